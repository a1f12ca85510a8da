"""The cap on a worker's resident memory (TORCHSTUDIO_WORKER_MEMORY_MB).

It keeps one runaway training or dataset from taking the whole machine. The cap is on
resident memory (what the process really holds in RAM), not on address space: PyTorch
and its libraries reserve gigabytes of address space they never touch, so an address
space limit below about 6 GB left torch no room to start. A thread of the worker reads
its resident size every tenth of a second; past the cap, the worker says so on stderr
(the app shows that line as the reason it ended) and ends at once.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Mapping

MEMORY_LIMIT_VARIABLE = "TORCHSTUDIO_WORKER_MEMORY_MB"
MEMORY_CAP_EXIT = 3  # the exit code of a worker stopped by the cap
CHECK_SECONDS = 0.1
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def cap_bytes(env: Mapping[str, str]) -> int | None:
    """The cap `env` asks for, in bytes; None when there is none (unset, empty or 0).

    A value that is not a number raises ValueError naming the variable.
    """
    value = env.get(MEMORY_LIMIT_VARIABLE, "").strip()
    if not value:
        return None
    try:
        megabytes = float(value)
    except ValueError:
        raise ValueError(
            f"{MEMORY_LIMIT_VARIABLE}={value!r} is not a number of megabytes"
        ) from None
    return int(megabytes * 1024 * 1024) if megabytes > 0 else None


def resident_bytes() -> int | None:
    """This process's resident memory (Linux: /proc/self/statm); None where unknown."""
    try:
        with open("/proc/self/statm", "rb") as file:
            return int(file.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return None


def over_cap_text(resident: int, cap: int) -> str:
    return (
        f"out of memory: this worker held {resident >> 20} MB of resident memory, over its "
        f"cap of {cap >> 20} MB ({MEMORY_LIMIT_VARIABLE}); it was stopped"
    )


def watch_memory(cap: int, stop: threading.Event, interval: float = CHECK_SECONDS) -> None:
    """End the process, saying why, once its resident memory passes `cap` bytes."""
    while not stop.wait(interval):
        resident = resident_bytes()
        if resident is None:
            return  # no way to measure here: no cap rather than a wrong one
        if resident > cap:
            print(over_cap_text(resident, cap), file=sys.__stderr__, flush=True)
            os._exit(MEMORY_CAP_EXIT)


def start_memory_cap(env: Mapping[str, str] = os.environ) -> threading.Event | None:
    """Start watching this process's memory when `env` sets a cap; set the event to stop."""
    cap = cap_bytes(env)
    if cap is None:
        return None
    stop = threading.Event()
    threading.Thread(target=watch_memory, args=(cap, stop), name="memory-cap", daemon=True).start()
    return stop
