"""A worker running on a server, seen through its SSH channel: the app's `WorkerProcess`.

The channel's stdin reaches the guard (`torchstudio.remote.guard`): `terminate` and `kill`
are lines written to it, and closing it ends the worker. When the connection drops, the
channel closes without an exit status; that is reported as SIGHUP, the signal of a lost
line, after a stderr line saying the connection was lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator

import asyncssh

from torchstudio.remote.errors import RemoteError

KILL_CLOSE_DELAY = 2.0  # seconds the guard gets to act on `kill` before the channel is closed


class SSHProcess:
    """A started remote worker; `pid` is the worker's process id on the server."""

    def __init__(self, process: asyncssh.SSHClientProcess, pid: int, label: str) -> None:
        self._process = process
        self._pid = pid
        self._label = label

    @classmethod
    async def started(
        cls, process: asyncssh.SSHClientProcess, secret: str, label: str, timeout: float = 60
    ) -> SSHProcess:
        """Hand the secret to the guard and read the worker's pid back."""
        process.stdin.write(secret.encode() + b"\n")
        try:
            line = await asyncio.wait_for(process.stdout.readline(), timeout)
        except (TimeoutError, asyncssh.Error, OSError) as exc:
            process.close()
            raise RemoteError(f"the worker did not start on {label}: {exc}") from exc
        text = line.decode(errors="replace").strip()
        if not text.startswith("pid "):
            errors = await _drain(process)
            process.close()
            raise RemoteError(
                f"the worker did not start on {label}: {errors or text or 'no output'}"
            )
        return cls(process, int(text.split()[1]), label)

    @property
    def pid(self) -> int | None:
        return self._pid

    async def stderr_lines(self) -> AsyncIterator[str]:
        try:
            async for line in self._process.stderr:
                yield line.decode("utf-8", errors="replace").rstrip("\n")
        except (asyncssh.Error, OSError):
            pass  # the connection dropped: reported below and by wait()
        await self._process.wait_closed()
        if self._process.returncode is None:
            yield f"[torchstudio] the SSH connection to {self._label} was lost"

    async def wait(self) -> int:
        await self._process.wait_closed()
        returncode = self._process.returncode
        return -signal.SIGHUP if returncode is None else returncode

    def terminate(self) -> None:
        self._command(b"terminate\n")

    def kill(self) -> None:
        self._command(b"kill\n")
        with contextlib.suppress(asyncssh.Error, OSError):
            self._process.stdin.write_eof()
        # Whatever the guard does, the channel ends soon, so the app never waits forever.
        asyncio.get_running_loop().call_later(KILL_CLOSE_DELAY, self._process.close)

    def _command(self, line: bytes) -> None:
        with contextlib.suppress(asyncssh.Error, OSError, BrokenPipeError):
            self._process.stdin.write(line)


async def _drain(process: asyncssh.SSHClientProcess, timeout: float = 5) -> str:
    """What a process that failed to start printed on stderr (its last lines)."""
    with contextlib.suppress(TimeoutError, asyncssh.Error, OSError):
        data = await asyncio.wait_for(process.stderr.read(), timeout)
        lines = data.decode(errors="replace").strip().splitlines()
        return "\n".join(lines[-5:])
    return ""
