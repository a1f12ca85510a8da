"""How a worker process gets started: the one seam between the worker manager and a machine.

`LocalLauncher` runs a worker on this machine: forked from the fork server, which holds torch
imported already (`forking`), or as a new interpreter. A remote launcher (over SSH)
implements the same `Launcher` protocol, so the manager treats all alike.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import functools
import os
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Protocol

import torchstudio
from torchstudio.app.runtime.forking import ForkServerError, fork_server, forking_enabled


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


@functools.cache
def package_only_path() -> str:
    """A folder holding only a link to this torchstudio package, made once per app process.

    Another Python of this machine (one the user checks or installs into) runs our
    standard-library-only tools, `pythoncheck` and `pythoninstall`, with this folder as its
    path: it finds them, and none of the app's other packages, as a server does with the
    uploaded package.
    """
    folder = tempfile.mkdtemp(prefix="torchstudio-package-")
    os.symlink(Path(torchstudio.__file__).parent, Path(folder) / "torchstudio")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


class LocalLauncher:
    """Starts workers with this machine's Python (the app's own interpreter by default)."""

    def __init__(self, python: str = sys.executable) -> None:
        self.python = python

    def own_python(self) -> bool:
        """Whether this is the app's own interpreter (with the app's packages)."""
        return os.path.abspath(self.python) == os.path.abspath(sys.executable)

    def module_env(self) -> dict[str, str]:
        """The environment in which `python -m torchstudio.TOOL` finds the app's package."""
        env = dict(os.environ)
        if not self.own_python():
            env["PYTHONPATH"] = package_only_path()
        return env

    def forks(self) -> bool:
        """Whether workers are forked from the fork server: with the app's own Python."""
        return self.own_python() and forking_enabled()

    async def warm_up(self) -> None:
        """Start the fork server now, so that the first worker need not wait for its imports."""
        if self.forks():
            with contextlib.suppress(ForkServerError):
                server = fork_server()
                await asyncio.get_running_loop().run_in_executor(None, server.ensure_started)

    async def launch(
        self, module: str, address: str, port: int, secret: str, env: Mapping[str, str]
    ) -> WorkerProcess:
        """Fork the worker from the fork server when it runs with the app's own Python (a new
        interpreter otherwise, or when the server cannot serve)."""
        if self.forks():
            with contextlib.suppress(ForkServerError):
                return await fork_server().launch(
                    module,
                    ["--address", address, "--port", str(port)],
                    {**os.environ, **env},
                    secret,
                )
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
            env=self.module_env(),
        )
        return LocalProcess(process)
