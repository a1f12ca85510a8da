"""The remote guard, run here as sshd would run it: it hands the secret on, reports the
worker's pid, passes the app's commands on as signals and ends the worker with its input.

The guard needs only the standard library, so it runs on this machine as on a server; the
SSH side (a dropped connection ending it) is tested against the real sshd in tests/remote.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from tests.helpers.waiting import wait_until

pytestmark = pytest.mark.timeout(60)

# A worker stand-in: writes the secret it got and its process group, then waits for a signal.
# A stubborn one ignores SIGTERM before it writes: the file is what the test waits on.
WORKER = """
import os, signal, sys
if {stubborn}:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
secret = sys.stdin.readline().strip()
with open({out!r}, "w") as out:
    out.write(f"{{secret}} {{os.getpgid(0)}}")
while True:
    signal.pause()
"""


def start_guard(out: Path, stubborn: bool = False) -> tuple[subprocess.Popen[bytes], int]:
    guard = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "torchstudio.remote.guard",
            "-c",
            WORKER.format(out=str(out), stubborn=stubborn),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert guard.stdin is not None and guard.stdout is not None
    guard.stdin.write(b"s3cret\n")
    guard.stdin.flush()
    line = guard.stdout.readline().decode().split()
    assert line[0] == "pid", line
    wait_until(lambda: out.exists() and out.read_text(), timeout=30, what="the worker started")
    return guard, int(line[1])


def test_terminate_reaches_the_worker_and_the_guard_exits_like_it(tmp_path):
    guard, pid = start_guard(tmp_path / "seen")
    secret, group = (tmp_path / "seen").read_text().split()
    assert secret == "s3cret" and int(group) == pid  # its own group, for its helpers too
    guard.stdin.write(b"terminate\n")
    guard.stdin.flush()
    assert guard.wait(timeout=30) == -signal.SIGTERM  # re-raised: sshd reports the signal
    assert not os.path.exists(f"/proc/{pid}") or "Z" in Path(f"/proc/{pid}/stat").read_text()


def test_end_of_input_ends_even_a_worker_that_ignores_sigterm(tmp_path):
    guard, pid = start_guard(tmp_path / "seen", stubborn=True)
    guard.stdin.close()  # what a dropped SSH connection looks like from the guard
    assert guard.wait(timeout=30) == -signal.SIGKILL  # SIGTERM first, SIGKILL after the grace
