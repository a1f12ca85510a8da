"""Workers forked from the fork server behave as workers started as new interpreters."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import signal

import pytest
from tests.helpers.processes import process_gone
from tests.helpers.waiting import eventually

from torchstudio.app.runtime import forking
from torchstudio.app.runtime.forking import ForkServer, forking_enabled
from torchstudio.app.runtime.manager import WorkerManager
from torchstudio.forkserver import PRELOAD

pytestmark = pytest.mark.timeout(120)


async def start(manager: WorkerManager, env, **kwargs):
    return await manager.start_worker("crashworker", module="crashworker", env=env, **kwargs)


async def test_a_forked_worker_gets_its_environment_folder_and_path(
    worker_env, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)  # after the server started, or before: the app's folder now
    async with WorkerManager() as manager:
        worker = await start(manager, {**worker_env, "FORKED_VALUE": "ü 1"})
        where = await worker.request("where", "FORKED_VALUE")
        assert where["env"] == "ü 1" and where["cwd"] == str(tmp_path)
        assert worker_env["PYTHONPATH"].split(os.pathsep)[0] in where["path"]
        # Forked: the server is its parent, not the app.
        with open(f"/proc/{where['pid']}/stat") as stat:
            parent = int(stat.read().rsplit(")", 1)[1].split()[1])
        assert parent != os.getpid() and parent == forking.fork_server()._process.pid
        # What the server imported once, this worker (which imports none of it) holds already.
        assert set(PRELOAD) <= set(where["modules"])
        await worker.request("print", "a line on stdout")
        assert await worker.request("echo", [1, "two"]) == [1, "two"]


async def test_exit_codes_signals_and_stderr_are_reported_as_for_a_subprocess(worker_env):
    async with WorkerManager() as manager:
        worker = await start(manager, worker_env)
        with pytest.raises(Exception, match="exit|ended|died"):
            await worker.request("exit", 7)
        await worker.ended.wait()
        assert worker.exit["code"] == 7
        worker = await start(manager, worker_env)
        worker.process.kill()
        await worker.ended.wait()
        assert worker.exit["signal"] == "SIGKILL"
        failing = {**worker_env, "CRASHWORKER_FAIL_AT_START": "1"}
        with pytest.raises(Exception, match="boom at start"):
            await start(manager, failing)


async def test_when_the_server_ends_its_workers_end_and_say_so(worker_env, tmp_path):
    server = ForkServer()
    shared = forking.use_fork_server(server)  # this test's own server, ended below
    try:
        async with WorkerManager() as manager:
            worker = await start(manager, worker_env)
            pid = worker.process.pid
            os.kill(server._process.pid, signal.SIGKILL)
            await worker.ended.wait()  # reported as ended with its server...
            await eventually(lambda: process_gone(pid), what="the worker ended by the kernel")
            # The next worker gets a new server.
            again = await start(manager, worker_env)
            assert await again.request("echo", 1) == 1
            assert server._process is not None and server._process.poll() is None
    finally:
        server.close()
        forking.use_fork_server(shared)


async def test_without_forking_workers_are_new_interpreters(worker_env, monkeypatch):
    monkeypatch.setenv(forking.FORK_VARIABLE, "0")
    assert not forking_enabled()
    async with WorkerManager() as manager:
        worker = await start(manager, worker_env)
        where = await worker.request("where", "PATH")
        with open(f"/proc/{where['pid']}/stat") as stat:
            assert int(stat.read().rsplit(")", 1)[1].split()[1]) == os.getpid()


async def test_a_stopped_worker_is_reaped_and_reported(worker_env):
    async with WorkerManager() as manager:
        worker = await start(manager, worker_env)
        pid = worker.process.pid
        await worker.stop()
        await eventually(lambda: process_gone(pid), what="the stopped worker gone")
        assert worker.exit is not None and worker.exit["code"] == 0


async def test_a_cancelled_wait_leaves_the_answer_to_the_others():
    # The reader thread answers later; a waiter cancelled meanwhile (a stop during a start)
    # must neither cancel the answer nor make the thread fail when it gives it.
    answer: concurrent.futures.Future[int] = concurrent.futures.Future()
    first = asyncio.ensure_future(forking.result_of(answer))
    second = asyncio.ensure_future(forking.result_of(answer))
    await asyncio.sleep(0)  # both are waiting
    first.cancel()
    answer.set_result(5)  # raised InvalidStateError with asyncio.wrap_future
    assert await second == 5 and first.cancelled()
    assert await forking.result_of(answer) == 5
