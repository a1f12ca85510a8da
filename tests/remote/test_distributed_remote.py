"""A "two-machine" data-parallel job: rank 0 here, rank 1 started through the SSH server.

The loopback sshd of the remote tests plays the second machine: its trainer is started
with `Servers.start_worker` (upload, guard, reverse tunnel), exactly as on a real server,
and its rank joins rank 0's rendezvous port on 127.0.0.1.
"""

from __future__ import annotations

import asyncio

import pytest

# The same dataset, model and parts as the one-machine tests (SGD, not Adam: see there).
from tests.helpers.training import DIGITS, MODEL_NO_DROPOUT, SGD, assert_same_history, built_model
from tests.helpers.training import settings as quick_settings

from torchstudio.app.runtime.manager import WorkerManager
from torchstudio.app.web.server import free_port
from torchstudio.train.ddp.cluster import ClusterError, train_on_hosts

pytestmark = pytest.mark.timeout(180)

SERVER = "test server"


def settings(**overrides: object) -> dict:
    return quick_settings(optimizer=SGD, **overrides)


def two_hosts() -> list[dict]:
    return [
        {"server": None, "devices": ["cpu"], "address": "127.0.0.1", "interface": "lo"},
        {"server": SERVER, "devices": ["cpu"], "interface": "lo"},
    ]


async def test_a_job_on_two_machines_matches_one_process(servers, tmp_path):
    async with WorkerManager() as manager:
        env = {"TORCHSTUDIO_CACHE": str(tmp_path / "cache")}
        loader = await manager.start_worker("datasetload", env=env)
        link = (await loader.request("load", {"code": DIGITS}))["link"]
        trainer = await manager.start_worker("modeltrain", env=env)
        messages: list = []
        manager.subscribe(lambda e: messages.append(e) if e.kind == "message" else None)
        built = await asyncio.to_thread(built_model, MODEL_NO_DROPOUT)
        single = await trainer.request(
            "train", {"built": built, "link": link, "settings": settings(batch_size=64)}
        )
        messages.clear()
        request = {
            "built": built,
            "link": link,
            "settings": settings(devices=two_hosts(), dist_port=free_port("127.0.0.1")),
        }
        both = await train_on_hosts(manager, servers, trainer, request, env=env)
        assert both["world_size"] == 2 and both["effective_batch_size"] == 64
        assert [(r["rank"], r["host"]) for r in both["ranks"]] == [
            (0, "this machine"),
            (1, SERVER),
        ]
        assert_same_history(single["history"], both["history"])
        epochs = [e.data[1] for e in messages if e.data[0] == "epoch"]
        assert [e["epoch"] for e in epochs] == [1, 2]
        # Only the first host's trainer reports epochs; the server's trainer was stopped.
        assert {e.worker for e in messages if e.data[0] == "epoch"} == {trainer.name}
        remote = [w for w in manager.workers.values() if w.name != trainer.name]
        assert all(not w.alive for w in remote if w.module == "torchstudio.modeltrain")

        bad = settings(
            devices=two_hosts(), dist_port=free_port("127.0.0.1"), loss=["loss = None\n"]
        )
        with pytest.raises(ClusterError, match=r"host \d .*: .*rank \d .*failed: .*`loss`"):
            await train_on_hosts(manager, servers, trainer, {**request, "settings": bad})
