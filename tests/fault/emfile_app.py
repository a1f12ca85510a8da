"""A worker manager under `ulimit -n 256`, for the EMFILE attack (test_accept_emfile.py).

Prints its port; on "flooded" (the test holds 1,000 connections to it) tries to start a
worker and prints why it could not; on "go" (the connections are closed) starts one and
prints its echo.
"""

import asyncio
import resource
import sys

from torchstudio.app.runtime.manager import WorkerError, WorkerManager


async def main() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
    loop = asyncio.get_running_loop()
    async with WorkerManager() as manager:
        print(f"port {manager.port}", flush=True)
        await loop.run_in_executor(None, sys.stdin.readline)  # "flooded"
        try:
            await manager.start_worker("crashworker", module="crashworker", connect_timeout=5)
            print("started while flooded", flush=True)
        except WorkerError as exc:
            print(f"refused: {exc}", flush=True)
        await loop.run_in_executor(None, sys.stdin.readline)  # "go"
        worker = await manager.start_worker("crashworker", module="crashworker", connect_timeout=30)
        print(f"echo: {await worker.request('echo', 'ok')}", flush=True)


asyncio.run(main())
