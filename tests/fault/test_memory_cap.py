"""The worker memory cap (TORCHSTUDIO_WORKER_MEMORY_MB) is on resident memory.

Under an address-space limit, a cap of 1 GB left torch no room even to import; on resident
memory a worker under that cap runs dataset code that imports torch, and one that then
holds 2 GB is stopped with a message naming the cap.
"""

from __future__ import annotations

import pytest

from torchstudio.app.runtime.manager import WorkerError, WorkerManager
from torchstudio.memory_cap import MEMORY_LIMIT_VARIABLE, cap_bytes

pytestmark = pytest.mark.timeout(120)

SMALL = "import torch\ntrain = [(torch.zeros(4), 0), (torch.ones(4), 1)]\n"
HUGE = "import torch\nbig = torch.ones(512 * 1024 * 1024)\ntrain = [(big[:4], 0)]\n"


def test_cap_values():
    assert cap_bytes({}) is None and cap_bytes({MEMORY_LIMIT_VARIABLE: "0"}) is None
    assert cap_bytes({MEMORY_LIMIT_VARIABLE: "1.5"}) == 3 * 512 * 1024
    with pytest.raises(ValueError, match=MEMORY_LIMIT_VARIABLE):
        cap_bytes({MEMORY_LIMIT_VARIABLE: "lots"})


async def test_a_worker_under_a_small_cap_runs_torch_and_is_stopped_past_it():
    env = {MEMORY_LIMIT_VARIABLE: "1024"}
    async with WorkerManager() as manager:
        worker = await manager.start_worker("datasetload", env=env)
        report = await worker.request("load", {"code": SMALL}, timeout=60)
        assert "classes" in report, report  # loaded: torch had room under the cap
        with pytest.raises(WorkerError) as stopped:
            await worker.request("load", {"code": HUGE}, timeout=60)
        await worker.ended.wait()
        assert "over its cap of 1024 MB" in worker.exit["text"], worker.exit
        assert MEMORY_LIMIT_VARIABLE in str(stopped.value), stopped.value
