"""What the Open dialog lists: a folder's sub-folders and project files, on the app's machine."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_SUFFIX = ".tsproj"
MAX_ENTRIES = 500  # a folder with more is cut: the path field still opens anything


@dataclass
class Listing:
    """`folder` (resolved), its parent (None at the root), and what it holds, sorted by name."""

    folder: Path
    parent: Path | None
    folders: list[str] = field(default_factory=list)
    projects: list[str] = field(default_factory=list)
    error: str | None = None
    cut: bool = False


def list_folder(path: str | os.PathLike[str]) -> Listing:
    """The folder's visible sub-folders and `.tsproj` files; an unreadable one says why."""
    folder = Path(path).expanduser().resolve()
    parent = folder.parent if folder.parent != folder else None
    listing = Listing(folder, parent)
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name.lower())
    except OSError as exc:
        listing.error = f"cannot list {folder}: {exc.strerror or exc}"
        return listing
    for entry in entries:
        if entry.name.startswith("."):
            continue  # hidden, as file dialogs do
        try:
            if entry.is_dir():
                listing.folders.append(entry.name)
            elif entry.name.endswith(PROJECT_SUFFIX) and entry.is_file():
                listing.projects.append(entry.name)
        except OSError:
            continue  # a dangling link or a vanished entry: not listed
        if len(listing.folders) + len(listing.projects) >= MAX_ENTRIES:
            listing.cut = True
            break
    return listing


def start_folder(recent: list[str]) -> Path:
    """Where the browser opens: the latest project's folder, else the current one."""
    for path in recent:
        folder = Path(path).parent
        if folder.is_dir():
            return folder
    return Path.cwd()
