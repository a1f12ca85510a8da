"""Fingerprints: a short, stable hash of what a result was made from.

Two results made from equal inputs have equal fingerprints, in any process and on any
machine (the inputs are hashed as canonical JSON), so a fingerprint stored with a result
tells whether its inputs have changed since.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

LENGTH = 16  # hex digits kept: plenty against accidental equality, short enough to store
SHORT = 8  # hex digits shown to the user


def fingerprint(*parts: Any) -> str:
    """The hash of `parts` (JSON values), as LENGTH hex digits."""
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:LENGTH]


def short(value: str | None) -> str:
    """A fingerprint as shown on a page; "unknown" for one never recorded (older projects)."""
    return value[:SHORT] if value else "unknown"
