"""The long (soak) and short (CI) versions of the same test, chosen by `make soak`."""

from __future__ import annotations

import os

SOAK = os.environ.get("TORCHSTUDIO_SOAK") == "1"


def soak(short: int | float, long: int | float) -> int | float:
    """`long` under `make soak` (TORCHSTUDIO_SOAK=1), `short` otherwise."""
    return long if SOAK else short
