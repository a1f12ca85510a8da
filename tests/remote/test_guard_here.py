"""The remote guard on this machine: what sshd runs between the app and a worker.

The remote tests run it on the package copy a server gets; these run the installed one
directly, through a worker that starts a helper of its own (as DataLoader processes are).
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
from tests.helpers.processes import process_gone, wait_until_gone
from tests.helpers.waiting import wait_until

pytestmark = pytest.mark.timeout(60)

# The worker writes the secret it was given and its helper's pid, then exits with the code
# it was given, or (a negative one) waits for a signal.
WORKER = """
import signal, subprocess, sys
from pathlib import Path
folder = Path(sys.argv[1])
helper = subprocess.Popen([sys.executable, "-c", "import signal; signal.pause()"])
(folder / "secret").write_bytes(sys.stdin.buffer.readline())
(folder / "helper").write_text(str(helper.pid))
code = int(sys.argv[2])
if code < 0:
    signal.pause()  # until the guard signals it
sys.exit(code)
"""


def start_guard(folder: Path, exit_code: int = -1) -> tuple[subprocess.Popen, int, int]:
    """The guard with the worker above; returns it, the worker's pid and its helper's pid."""
    guard = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "torchstudio.remote.guard",
            "-c",
            WORKER,
            str(folder),
            str(exit_code),
        ],  # fmt: skip
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert guard.stdin is not None and guard.stdout is not None
    guard.stdin.write(b"s3cret\n")
    guard.stdin.flush()
    first = guard.stdout.readline().decode()
    assert first.startswith("pid "), first
    helper = folder / "helper"
    wait_until(lambda: helper.exists() and helper.read_text(), what="the worker's helper")
    return guard, int(first.split()[1]), int(helper.read_text())


def test_the_worker_gets_the_secret_and_terminate_ends_it_with_its_helpers(tmp_path):
    guard, worker, helper = start_guard(tmp_path)
    assert (tmp_path / "secret").read_bytes() == b"s3cret\n"
    guard.stdin.write(b"terminate\n")
    guard.stdin.flush()
    # The guard exits as the worker did: by SIGTERM, which sshd reports as a signal.
    assert guard.wait(timeout=30) == -signal.SIGTERM
    assert wait_until_gone([worker, helper], timeout=10) == []


def test_a_dropped_connection_ends_the_worker_and_its_helpers(tmp_path):
    guard, worker, helper = start_guard(tmp_path)
    guard.stdin.close()  # what sshd's end of the channel does when the connection drops
    assert guard.wait(timeout=30) == -signal.SIGTERM
    assert wait_until_gone([worker, helper], timeout=10) == []


def test_the_guard_exits_with_the_workers_code_and_leaves_no_helper(tmp_path):
    guard, worker, helper = start_guard(tmp_path, exit_code=3)
    assert guard.wait(timeout=30) == 3
    assert process_gone(worker)
    assert wait_until_gone([helper], timeout=10) == []
