"""Whether processes still run, read from /proc (the tests run on Linux)."""

from __future__ import annotations

import contextlib
import os

from tests.helpers.waiting import wait_until


def process_gone(pid: int) -> bool:
    """True when `pid` no longer runs (a zombie waiting for init to reap it counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def children_of(pid: int) -> list[int]:
    """The processes whose parent is `pid` (the workers an app started)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(entry))
    return found


def descendants_of(pid: int) -> list[int]:
    """The processes `pid` started, and theirs (workers forked by the app's fork server)."""
    found, queue = [], [pid]
    while queue:
        children = children_of(queue.pop())
        found.extend(children)
        queue.extend(children)
    return found


def wait_until_gone(pids: list[int], timeout: float) -> list[int]:
    """Wait until every pid is gone; returns those still running after `timeout`."""
    with contextlib.suppress(AssertionError):
        wait_until(lambda: all(process_gone(pid) for pid in pids), timeout=timeout)
    return [pid for pid in pids if not process_gone(pid)]
