"""The trainer's priority: below the app's, so that its pages answer on a busy machine.

`torchstudio run` has no pages to keep answering: its trainers run at the normal priority
(on a machine shared with other work, a niced trainer gets a small share of the cores).
"""

from __future__ import annotations

import contextlib
import os

NICENESS_VARIABLE = "TORCHSTUDIO_TRAINER_NICENESS"
DEFAULT_NICENESS = 10  # the app's trainers
HEADLESS_NICENESS = 0  # `torchstudio run`'s trainers


def lower_priority() -> None:
    """Train below the app's priority (`TORCHSTUDIO_TRAINER_NICENESS`, 10 unless set).

    Alone on the machine a trainer runs as fast as before; its ranks inherit the priority.
    `TORCHSTUDIO_TRAINER_NICENESS=0` keeps the normal priority.
    """
    # Not allowed, or not a POSIX system: then it trains at the normal priority.
    with contextlib.suppress(OSError, ValueError, AttributeError):
        os.nice(int(os.environ.get(NICENESS_VARIABLE, DEFAULT_NICENESS)))


def headless_env() -> dict[str, str]:
    """The workers' environment for `torchstudio run`: the normal priority unless the user's
    environment says otherwise."""
    return {NICENESS_VARIABLE: os.environ.get(NICENESS_VARIABLE, str(HEADLESS_NICENESS))}
