"""The app's side of the fork server (`torchstudio.forkserver`): workers in milliseconds.

One server per app process, started on the first local worker and shared by every worker
manager of the process (tests run many). A thread reads the server's replies, so a launch
from any event loop gets its answer. When the server cannot start or dies, `ForkServerError`
says why and the launcher starts workers the plain way instead.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Mapping
from typing import Any, TypeVar

FORK_VARIABLE = "TORCHSTUDIO_FORK_WORKERS"  # "0": start every worker as a new interpreter
READY_TIMEOUT = 120.0  # seconds for the server to import torch on a busy machine
SERVER_ENDED = -int(signal.SIGKILL)  # the exit code of workers whose server ended

Started = tuple[int, "concurrent.futures.Future[int]"]
T = TypeVar("T")


class ForkServerError(RuntimeError):
    """The fork server could not start, or ended."""


async def result_of(future: concurrent.futures.Future[T]) -> T:
    """Await a future the reader thread resolves; cancelling the wait leaves it alone (other
    waiters, and the thread's later answer, still see it), unlike `asyncio.wrap_future`."""
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[T] = loop.create_future()

    def copy(done: concurrent.futures.Future[T]) -> None:
        if waiter.done():
            return
        if done.exception() is not None:
            waiter.set_exception(done.exception())  # type: ignore[arg-type]
        else:
            waiter.set_result(done.result())

    def resolved(done: concurrent.futures.Future[T]) -> None:
        with contextlib.suppress(RuntimeError):  # that loop has closed: nobody waits
            loop.call_soon_threadsafe(copy, done)

    future.add_done_callback(resolved)
    return await waiter


def forking_enabled(env: Mapping[str, str] = os.environ) -> bool:
    return env.get(FORK_VARIABLE, "1").strip() not in ("0", "false", "no")


class ForkedProcess:
    """A worker forked by the server: the `WorkerProcess` of the launchers."""

    def __init__(
        self, pid: int, stderr: asyncio.StreamReader, ended: concurrent.futures.Future[int]
    ) -> None:
        self._pid, self._stderr, self._ended = pid, stderr, ended

    @property
    def pid(self) -> int | None:
        return self._pid

    async def stderr_lines(self) -> AsyncIterator[str]:
        while line := await self._stderr.readline():
            yield line.decode("utf-8", errors="replace").rstrip("\n")

    async def wait(self) -> int:
        return await result_of(self._ended)

    def _signal(self, number: signal.Signals) -> None:
        if not self._ended.done():  # once reported, the pid may belong to another process
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._pid, number)

    def terminate(self) -> None:
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        self._signal(signal.SIGKILL)


class ForkServer:
    """Starts the server when first needed; `launch` forks a worker from it."""

    def __init__(self, python: str = sys.executable) -> None:
        self.python = python
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._socket: socket.socket | None = None
        self._ids = itertools.count()
        # A start's future gets the worker's pid and the future of its exit code.
        self._starts: dict[int, concurrent.futures.Future[Started]] = {}
        self._exits: dict[int, concurrent.futures.Future[int]] = {}

    def ensure_started(self) -> socket.socket:
        """The socket to a running server, starting one (blocking: run it in a thread)."""
        with self._lock:
            if self._socket is not None:
                return self._socket
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                self._process = subprocess.Popen(
                    [self.python, "-P", "-u", "-m", "torchstudio.forkserver", str(theirs.fileno())],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    pass_fds=(theirs.fileno(),),
                )
            except OSError as exc:
                ours.close()
                raise ForkServerError(f"the fork server did not start: {exc}") from exc
            finally:
                theirs.close()
            ours.settimeout(READY_TIMEOUT)
            try:
                ready = ours.makefile("rb").readline()
            except OSError:
                ready = b""
            if not ready.startswith(b'{"ready"'):
                ours.close()
                self._process.kill()
                raise ForkServerError("the fork server ended before it was ready")
            ours.settimeout(None)
            self._socket = ours
            threading.Thread(target=self._read, args=(ours,), daemon=True).start()
            return ours

    def _read(self, sock: socket.socket) -> None:
        """The server's replies, until it ends; then every waiting start fails."""
        with contextlib.suppress(OSError), sock.makefile("rb") as lines:
            for line in lines:
                # One bad line must not end the thread: every later worker would wait on it.
                with contextlib.suppress(
                    ValueError, KeyError, concurrent.futures.InvalidStateError
                ):
                    self._handle(json.loads(line))
        with self._lock:
            if self._socket is sock:
                self._socket = None
            starts, self._starts = self._starts, {}
            exits, self._exits = self._exits, {}
        for future in starts.values():
            future.set_exception(ForkServerError("the fork server ended"))
        for future in exits.values():
            future.set_result(SERVER_ENDED)  # the kernel ends them with it (parent-death)

    def _handle(self, message: dict[str, Any]) -> None:
        with self._lock:
            if "started" in message:
                pid = int(message["pid"])
                ended: concurrent.futures.Future[int] = concurrent.futures.Future()
                self._exits[pid] = ended
                start = self._starts.pop(message["started"], None)
                if start is not None:
                    start.set_result((pid, ended))
            elif "refused" in message:
                start = self._starts.pop(message["refused"], None)
                if start is not None:
                    start.set_exception(OSError(str(message.get("error"))))
            elif "exited" in message:
                ended = self._exits.pop(int(message["exited"]), None)
                if ended is not None:
                    ended.set_result(int(message["code"]))

    async def launch(
        self, module: str, args: list[str], env: Mapping[str, str], secret: str
    ) -> ForkedProcess:
        """Fork `python -m module args` with `env` and `secret` on its stdin.

        OSError when no pipe can be made (out of file descriptors...); ForkServerError when
        the server cannot serve.
        """
        loop = asyncio.get_running_loop()
        sock = await loop.run_in_executor(None, self.ensure_started)
        read_end, write_end = os.pipe()
        request = {
            "module": module,
            "args": args,
            "env": dict(env),
            "cwd": os.getcwd(),
            "secret": secret,
        }
        try:
            with self._lock:
                ident = next(self._ids)
                started: concurrent.futures.Future[Started] = concurrent.futures.Future()
                self._starts[ident] = started
                line = json.dumps({"start": ident, **request}).encode() + b"\n"
                socket.send_fds(sock, [line], [write_end])
        except OSError as exc:
            os.close(read_end)
            raise ForkServerError(f"the fork server cannot be reached: {exc}") from exc
        finally:
            os.close(write_end)
        try:
            pid, ended = await result_of(started)
        except asyncio.CancelledError:
            os.close(read_end)
            started.add_done_callback(end_unwanted)  # forked all the same: nobody will use it
            raise
        except BaseException:
            os.close(read_end)
            raise
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(read_end, "rb", buffering=0)
        )
        return ForkedProcess(pid, reader, ended)

    def close(self) -> None:
        """End the server (its remaining workers end with it)."""
        with self._lock:
            sock, self._socket = self._socket, None
            process, self._process = self._process, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        if process is not None:
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()


def end_unwanted(started: concurrent.futures.Future[Started]) -> None:
    if started.exception() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(started.result()[0], signal.SIGKILL)


_server: ForkServer | None = None


def fork_server() -> ForkServer:
    """This process's fork server (made on first use, ended at exit)."""
    global _server
    if _server is None:
        _server = ForkServer()
        atexit.register(_server.close)
    return _server


def use_fork_server(server: ForkServer | None) -> ForkServer | None:
    """Make `server` this process's fork server (None: a new one when next needed); returns
    the one it replaces."""
    global _server
    previous, _server = _server, server
    return previous
