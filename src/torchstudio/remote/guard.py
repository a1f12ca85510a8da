"""Runs on the server, between sshd and a worker: the worker ends when the session ends.

`python -m torchstudio.remote.guard -m torchstudio.<script> --address A --port P` reads the
worker's secret from its stdin, starts the worker in its own process group with the secret
on the worker's stdin, prints `pid <n>` on stdout, then keeps reading stdin:
`terminate` sends SIGTERM to the group, `kill` SIGKILL, and end-of-file (the app closed the
channel, or the SSH connection dropped and sshd went away) SIGTERM then SIGKILL. The
worker's own helpers (DataLoader processes) share its group, so none is left behind.
The guard exits with the worker's status, re-raising its signal, so the app sees either.

Only the standard library is used: this starts fast and needs nothing installed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time

GRACE_SECONDS = 3.0


def signal_group(pgid: int, number: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # already gone
        os.killpg(pgid, number)


def end_group(pgid: int, grace: float = GRACE_SECONDS) -> None:
    signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return
        time.sleep(0.05)
    signal_group(pgid, signal.SIGKILL)


def watch_stdin(pgid: int) -> None:
    """Act on the app's commands; end the worker at end-of-file whatever it is doing."""
    for line in sys.stdin.buffer:
        command = line.strip()
        if command == b"terminate":
            signal_group(pgid, signal.SIGTERM)
        elif command == b"kill":
            signal_group(pgid, signal.SIGKILL)
    end_group(pgid)


def exit_like(returncode: int) -> None:
    """Exit with the worker's status; a signal is re-raised so sshd reports it as one."""
    if returncode < 0:
        number = -returncode
        with contextlib.suppress(OSError, ValueError):  # SIGKILL cannot be handled anyway
            signal.signal(number, signal.SIG_DFL)
        os.kill(os.getpid(), number)
        time.sleep(1)  # the signal arrives meanwhile; the exit below is a fallback
    sys.stderr.flush()
    # os._exit: a normal exit would abort, as the stdin thread still holds stdin's lock.
    os._exit(returncode if returncode >= 0 else 128 - returncode)


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    secret = sys.stdin.buffer.readline()
    worker = subprocess.Popen(
        [sys.executable, "-u", *args],
        stdin=subprocess.PIPE,
        stdout=sys.stderr.fileno(),  # nothing may write into the guard's own stdout line
        start_new_session=True,
    )
    assert worker.stdin is not None
    worker.stdin.write(secret)
    worker.stdin.close()
    print(f"pid {worker.pid}", flush=True)
    threading.Thread(target=watch_stdin, args=(worker.pid,), daemon=True).start()
    returncode = worker.wait()
    signal_group(worker.pid, signal.SIGKILL)  # helpers the worker left behind
    exit_like(returncode)


if __name__ == "__main__":
    main()
