"""How a worker process gets started: the one seam between the worker manager and a machine.

`LocalLauncher` runs a worker as a subprocess of the app. A remote launcher (over SSH)
implements the same `Launcher` protocol, so the manager treats both alike.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Mapping
from typing import Protocol


class WorkerProcess(Protocol):
    """A started worker process, wherever it runs."""

    @property
    def pid(self) -> int | None: ...

    def stderr_lines(self) -> AsyncIterator[str]:
        """Lines the worker writes on stderr, until it closes it."""
        ...

    async def wait(self) -> int:
        """Wait for the end; returns the exit code, negative for a signal (as subprocess does)."""
        ...

    def terminate(self) -> None: ...

    def kill(self) -> None: ...


class Launcher(Protocol):
    async def launch(
        self, module: str, address: str, port: int, secret: str, env: Mapping[str, str]
    ) -> WorkerProcess:
        """Start `python -m module --address A --port P` and hand it `secret` on stdin."""
        ...


class LocalProcess:
    """A worker running as a subprocess of the app."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self._process = process

    @property
    def pid(self) -> int | None:
        return self._process.pid

    async def stderr_lines(self) -> AsyncIterator[str]:
        stream = self._process.stderr
        if stream is None:
            return
        while line := await stream.readline():
            yield line.decode("utf-8", errors="replace").rstrip("\n")

    async def wait(self) -> int:
        return await self._process.wait()

    def terminate(self) -> None:
        if self._process.returncode is None:
            self._process.terminate()

    def kill(self) -> None:
        if self._process.returncode is None:
            self._process.kill()


class LocalLauncher:
    """Starts workers with this machine's Python (the app's own interpreter by default)."""

    def __init__(self, python: str = sys.executable) -> None:
        self.python = python

    async def launch(
        self, module: str, address: str, port: int, secret: str, env: Mapping[str, str]
    ) -> LocalProcess:
        process = await asyncio.create_subprocess_exec(
            self.python,
            "-P",  # not the app's current folder on the import path: only what trust covers
            "-u",
            "-m",
            module,
            "--address",
            address,
            "--port",
            str(port),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, **env},  # TORCHSTUDIO_WORKER_MEMORY_MB: see memory_cap
        )
        assert process.stdin is not None
        process.stdin.write(secret.encode() + b"\n")
        await process.stdin.drain()
        process.stdin.close()
        return LocalProcess(process)

    async def start_module(self, module: str, args: list[str]) -> LocalProcess:
        """Run `python -m module args` (not a worker): its output comes as stderr lines."""
        process = await asyncio.create_subprocess_exec(
            self.python,
            "-u",
            "-m",
            module,
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        return LocalProcess(process)
