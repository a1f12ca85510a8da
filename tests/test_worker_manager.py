"""The worker manager with real worker processes over real sockets."""

import asyncio
import os
import signal
import socket
import time

import numpy as np
import pytest
import torch
from tests.helpers import waiting
from tests.helpers.processes import process_gone
from tests.helpers.recording import RecordingManager

from torchstudio import tcpcodec
from torchstudio.app.runtime.launchers import LocalLauncher
from torchstudio.app.runtime.manager import (
    WorkerDied,
    WorkerError,
    WorkerHandle,
    WorkerManager,
    describe_exit,
)

pytestmark = pytest.mark.timeout(120)


async def start(manager: WorkerManager, env, **kwargs):
    return await manager.start_worker("crashworker", module="crashworker", env=env, **kwargs)


async def sleeping(manager: RecordingManager, worker, seconds: float) -> asyncio.Future:
    """Ask `worker` to sleep; returns once its handler runs (the request is under way)."""
    request = asyncio.ensure_future(worker.request("sleep", seconds))
    while True:
        event = await waiting.next_event(manager, worker.name, "message")
        if event.data[0] == "sleeping":
            return request


async def test_echo_of_every_value_kind(worker_env):
    async with RecordingManager() as manager:
        worker = await start(manager, worker_env)
        for value in [None, 7, 2.5, "héllo", {"a": [1, 2]}, b"raw"]:
            assert await worker.request("echo", value) == value
        tensor = torch.arange(12, dtype=torch.float32).reshape(3, 4)
        echoed = await worker.request("echo", tensor)
        assert torch.equal(echoed, tensor)
        arrays = [np.ones((2, 2), np.uint8), torch.tensor(3)]
        back = await worker.request("echo", arrays)
        assert np.array_equal(np.asarray(back[0]), arrays[0]) and int(back[1]) == 3
        assert await worker.request("state") == 1
        assert await worker.request("state") == 2  # state survives between messages


async def test_progress_log_and_custom_messages_become_events(worker_env):
    async with RecordingManager() as manager:
        worker = await start(manager, worker_env)
        seen = []
        manager.subscribe(seen.append)
        assert await worker.request("count", 3) == 3
        kinds = [(e.kind, e.data) for e in seen if e.worker == worker.name]
        progress = [d for k, d in kinds if k == "progress"]
        assert [p["fraction"] for p in progress] == pytest.approx([1 / 3, 2 / 3, 1.0])
        assert progress[-1]["text"] == "step 3"
        assert ("log", "counted") in kinds
        assert ("message", ("custom", {"n": 3})) in kinds
        assert "counted" in worker.log


async def test_print_in_user_code_goes_to_the_log(worker_env):
    async with RecordingManager() as manager:
        worker = await start(manager, worker_env)
        await worker.request("print", "printed by user code")
        event = await waiting.next_event(manager, worker.name, "stderr")
        assert event.data == "printed by user code"


async def test_handler_exception_is_an_error_and_the_worker_lives(worker_env):
    async with RecordingManager() as manager:
        worker = await start(manager, worker_env)
        with pytest.raises(WorkerError, match="ValueError: bad value 5"):
            await worker.request("fail", 5)
        assert worker.alive
        assert await worker.request("echo", "still here") == "still here"


async def test_crash_at_start_reports_the_exception(worker_env):
    env = {**worker_env, "CRASHWORKER_FAIL_AT_START": "1"}
    async with RecordingManager() as manager:
        with pytest.raises(WorkerDied, match="crashed: RuntimeError: boom at start"):
            await start(manager, env)
        event = await waiting.next_event(manager, "crashworker-1", "exited")
        assert event.data["code"] == 1


async def test_os_exit_is_reported_with_its_code_and_fails_the_request(worker_env):
    async with RecordingManager() as manager:
        worker = await start(manager, worker_env)
        with pytest.raises(WorkerDied, match="exited with code 3"):
            await worker.request("exit", 3)
        event = await waiting.next_event(manager, worker.name, "exited")
        assert event.data == {"code": 3, "signal": None, "text": "exited with code 3"}
        with pytest.raises(WorkerDied):
            await worker.send("echo", 1)
        # The manager still starts and serves other workers.
        other = await start(manager, worker_env)
        assert await other.request("echo", 1) == 1


async def test_sigkill_is_reported_as_a_signal(worker_env):
    async with RecordingManager() as manager:
        worker = await start(manager, worker_env)
        request = await sleeping(manager, worker, 30)
        os.kill(worker.process.pid, signal.SIGKILL)
        with pytest.raises(WorkerDied, match="killed by SIGKILL"):
            await request
        event = await waiting.next_event(manager, worker.name, "exited")
        assert event.data["signal"] == "SIGKILL"


async def test_stop_is_clean_when_the_worker_listens(worker_env):
    async with RecordingManager() as manager:
        worker = await start(manager, worker_env)
        result = await worker.stop(timeout=10)
        assert result["text"] == "exited normally"
        assert not worker.alive


async def test_stop_escalates_to_terminate_then_kill(worker_env):
    async with RecordingManager() as manager:
        busy = await start(manager, worker_env)
        await sleeping(manager, busy, 60)
        assert (await busy.stop(timeout=1))["signal"] == "SIGTERM"

        stubborn = await start(manager, worker_env)
        assert await stubborn.request("ignore_sigterm") is True
        await sleeping(manager, stubborn, 60)
        assert (await stubborn.stop(timeout=1))["signal"] == "SIGKILL"


async def test_a_worker_stopped_before_it_connects_is_ended_at_once(worker_env):
    async with RecordingManager() as manager:
        env = {**worker_env, "CRASHWORKER_SLOW_START": "60"}
        starting = asyncio.ensure_future(start(manager, env))
        await waiting.eventually(lambda: manager.workers, what="the worker launched")
        (handle,) = manager.workers.values()
        asked = time.monotonic()
        # Nothing can ask it to stop yet: waiting out `timeout` first would only delay a close.
        assert (await handle.stop(timeout=30))["signal"] == "SIGTERM"
        assert time.monotonic() - asked < 30
        with pytest.raises(WorkerDied):
            await starting


class GatedLauncher(LocalLauncher):
    """The local launcher, holding each launch until `go` is set: a start in flight."""

    def __init__(self) -> None:
        super().__init__()
        self.asked, self.go = asyncio.Event(), asyncio.Event()
        self.pids: list[int] = []

    async def launch(self, *args, **kwargs):
        self.asked.set()
        await self.go.wait()
        process = await super().launch(*args, **kwargs)
        self.pids.append(process.pid)
        return process


async def test_close_while_a_worker_is_being_started_leaves_no_process(worker_env):
    launcher = GatedLauncher()
    manager = RecordingManager(launcher=launcher)
    await manager.start()
    starting = asyncio.ensure_future(start(manager, worker_env))
    await launcher.asked.wait()
    closing = asyncio.ensure_future(manager.close())
    launcher.go.set()  # the process starts while the manager closes
    await closing
    with pytest.raises(WorkerDied):
        await starting
    (pid,) = launcher.pids
    await waiting.eventually(lambda: process_gone(pid), what=f"worker {pid} ended")
    with pytest.raises(WorkerDied, match="the app is closing"):
        await start(manager, worker_env)


async def test_a_connection_without_the_secret_is_rejected(worker_env):
    async with RecordingManager() as manager:
        worker = await start(manager, worker_env)

        def intrude():
            with tcpcodec.Connection.connect("127.0.0.1", manager.port, timeout=5) as intruder:
                intruder.sock.settimeout(10)
                intruder.send("hello", {"secret": "guessed", "script": "crashworker", "pid": 1})
                intruder.recv()

        with pytest.raises(tcpcodec.ConnectionClosed):
            await asyncio.to_thread(intrude)
        garbage = socket.create_connection(("127.0.0.1", manager.port))
        garbage.sendall(b"\xff" * 64)
        garbage.close()
        await waiting.eventually(
            lambda: manager.rejected_connections >= 2, what="both intruders rejected"
        )
        assert manager.rejected_connections == 2
        assert await worker.request("echo", "unaffected") == "unaffected"


def test_describe_exit_texts():
    assert describe_exit(0, [])["text"] == "exited normally"
    assert describe_exit(-9, [])["text"] == "killed by SIGKILL"
    assert describe_exit(4, ["x"])["text"] == "exited with code 4"
    assert describe_exit(1, ["Traceback", "KeyError: 'a'", ""])["text"] == "crashed: KeyError: 'a'"


async def test_a_request_never_formats_its_result():
    # A training's result holds its best weights: formatting it (a future's repr in an error
    # message) took 0.1 s a resnet18, for nothing.
    formatted = []

    class Result:
        def __repr__(self) -> str:
            formatted.append(True)
            return "Result()"

    class AnsweringConnection:  # the reply comes while the request is being sent
        async def send(self, msg_type: str, value: object) -> None:
            handle._resolve(msg_type, None, Result())

    handle = WorkerHandle("answers", "echo", None, "", None, conn=AnsweringConnection())
    assert isinstance(await handle.request("echo", 1), Result)
    assert formatted == []
