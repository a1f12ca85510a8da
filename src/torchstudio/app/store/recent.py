"""The list of recently opened projects, kept in the user's TorchStudio folder."""

from __future__ import annotations

import json
import os
from pathlib import Path

MAX_RECENT = 10


def home() -> Path:
    """The per-user TorchStudio folder (`TORCHSTUDIO_HOME`, else `~/.torchstudio`)."""
    return Path(os.environ.get("TORCHSTUDIO_HOME") or Path.home() / ".torchstudio")


def recent_projects() -> list[str]:
    try:
        paths = json.loads((home() / "recent.json").read_text())
    except (OSError, ValueError):
        return []
    return [p for p in paths if isinstance(p, str)][:MAX_RECENT]


def remember(path: str | os.PathLike[str]) -> None:
    """Put `path` first in the recent list (a failure to write it is not worth an error)."""
    entry = str(Path(path).resolve())
    paths = [entry] + [p for p in recent_projects() if p != entry]
    try:
        home().mkdir(parents=True, exist_ok=True)
        temporary = home() / f"recent.{os.getpid()}.tmp"
        temporary.write_text(json.dumps(paths[:MAX_RECENT]))
        os.replace(temporary, home() / "recent.json")
    except OSError:
        pass
