"""Attack: exhaust the app's file descriptors through the worker port (EMFILE).

The app (a worker manager under `ulimit -n 256`) gets 1,000 connections at once: its
accept fails with "Too many open files". The accept loop must log it and go on: while the
flood lasts, starting a worker fails with a message naming the true cause, and once the
connections are gone a worker starts and answers as before.
"""

from __future__ import annotations

import os
import queue
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from tests.helpers.waiting import wait_until

pytestmark = pytest.mark.timeout(180)

APP = Path(__file__).with_name("emfile_app.py")
FLOOD = 1000


def lines_of(stream, into: queue.Queue) -> None:
    for line in stream:
        into.put(line)
    into.put(None)


def open_descriptors(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def wait_line(
    lines: queue.Queue,
    wanted: str,
    seconds: float,
    seen: list[str],
    errors: queue.Queue | None = None,
) -> str:
    """The first line containing `wanted` within `seconds` (failing with all lines seen, and
    what the app printed on `errors` meanwhile: its traceback when it ended)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            break
        if line is None:
            break
        seen.append(line)
        if wanted in line:
            return line
    printed = []
    while errors is not None and not errors.empty():
        printed.append(errors.get() or "")
    raise AssertionError(
        f"no line with {wanted!r} within {seconds} s:\n" + "".join(seen) + "".join(printed)
    )


def test_the_accept_loop_survives_emfile_and_says_so(worker_env):
    env = {**os.environ, **worker_env, "PYTHONPATH": f"{worker_env['PYTHONPATH']}"}
    env["PYTHONPATH"] += os.pathsep + str(Path(__file__).resolve().parents[2])
    app = subprocess.Popen(
        [sys.executable, str(APP)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    out: queue.Queue = queue.Queue()
    err: queue.Queue = queue.Queue()
    threading.Thread(target=lines_of, args=(app.stdout, out), daemon=True).start()
    threading.Thread(target=lines_of, args=(app.stderr, err), daemon=True).start()
    seen_out: list[str] = []
    seen_err: list[str] = []
    flood: list[socket.socket] = []
    try:
        port = int(wait_line(out, "port", 60, seen_out).split()[1])
        before = open_descriptors(app.pid)
        for _ in range(FLOOD):
            sock = socket.socket()
            sock.setblocking(False)
            sock.connect_ex(("127.0.0.1", port))
            flood.append(sock)
        wait_line(err, "Too many open files", 30, seen_err)

        app.stdin.write("flooded\n")
        app.stdin.flush()
        refused = wait_line(out, "refused:", 60, seen_out)
        assert "Too many open files" in refused, refused

        for sock in flood:
            sock.close()
        flood.clear()
        # The connections are gone once the app has closed its ends too (a loaded machine
        # can take a while to read their ends): only then may a start expect descriptors.
        wait_until(
            lambda: open_descriptors(app.pid) <= before + 8,
            timeout=60,
            what=f"the app back to about its {before} open descriptors",
        )
        app.stdin.write("go\n")
        app.stdin.flush()
        assert "echo: ok" in wait_line(out, "echo:", 60, seen_out, err)
    finally:
        for sock in flood:
            sock.close()
        app.kill()
        app.wait(timeout=10)
