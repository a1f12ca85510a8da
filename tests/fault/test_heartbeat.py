"""Heartbeats: a worker stuck in user code is reported and can be ended; a worker whose
app went away ends by itself, even while stuck."""

import time
from pathlib import Path

import pytest
from tests.helpers import waiting
from tests.helpers.processes import process_gone
from tests.helpers.recording import RecordingManager

pytestmark = pytest.mark.timeout(120)

STALL_SECONDS = 2.0


@pytest.fixture
def hang_env():
    return {"PYTHONPATH": str(Path(__file__).parent)}


async def test_a_job_stuck_in_user_code_is_reported_and_stopped(hang_env):
    async with RecordingManager(stall_timeout=STALL_SECONDS) as manager:
        seen = []
        manager.subscribe(seen.append)
        worker = await manager.start_worker("hangworker", module="hangworker", env=hang_env)
        # Busy for longer than the timeout, but polling for a cancel: not reported.
        assert await worker.request("steady_job", 2 * STALL_SECONDS + 1, timeout=60) == "done"
        assert worker.responding and worker.heartbeats >= 2
        assert "unresponsive" not in [e.kind for e in seen]

        sent = time.monotonic()
        await worker.send("spin_job")
        event = await waiting.next_event(manager, worker.name, {"unresponsive"}, timeout=60)
        assert time.monotonic() - sent >= STALL_SECONDS
        assert event.data["busy"] == ["spin_job"]
        assert "not responding: busy in spin_job for" in event.data["text"]
        assert not worker.responding
        assert any("not responding" in line for line in worker.log)

        # The job never looks at its cancel: stop escalates until the process is gone.
        assert await worker.request("cancel", timeout=10) is True
        ended = await worker.stop(timeout=2)
        assert ended["text"]
        assert process_gone(worker.process.pid)
        # The manager goes on: another worker starts and answers.
        other = await manager.start_worker("hangworker", module="hangworker", env=hang_env)
        assert await other.request("steady_job", 0, timeout=60) == "done"


async def test_a_worker_stuck_in_user_code_ends_when_the_app_goes_away(hang_env):
    async with RecordingManager(stall_timeout=STALL_SECONDS) as manager:
        worker = await manager.start_worker("hangworker", module="hangworker", env=hang_env)
        await worker.send("spin")  # its message loop is stuck: it cannot see the app leave
        await waiting.next_event(manager, worker.name, {"unresponsive"}, timeout=60)
        assert worker.busy == ["spin"]
        worker.conn.close()  # what the app's end looks like from the worker
        event = await waiting.next_event(manager, worker.name, {"exited"}, timeout=30)
        assert event.data["code"] == 3, event.data
        assert any("the app went away" in line for line in worker.log)
