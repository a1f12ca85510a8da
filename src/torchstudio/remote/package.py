"""What of the `torchstudio` package goes to a server, and the content hash naming it.

The app (`app/`) stays home: workers never import it, and leaving it out means UI edits do
not force a new upload. Compiled files are left out too; the server compiles its own.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torchstudio

SKIPPED_DIRS = {"__pycache__", "app"}
SKIPPED_SUFFIXES = (".pyc", ".pyo")
HASH_LENGTH = 16


def package_root() -> Path:
    """The folder of the installed `torchstudio` package (src/torchstudio in a checkout)."""
    return Path(torchstudio.__file__).resolve().parent


def package_files(root: Path) -> list[str]:
    """Relative POSIX paths of the files to upload, sorted so the hash is stable."""
    files = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS and not d.startswith("."))
        relative = Path(folder).relative_to(root)
        for name in names:
            if not name.endswith(SKIPPED_SUFFIXES) and not name.startswith("."):
                files.append((relative / name).as_posix())
    return sorted(files)


def content_hash(root: Path, files: list[str]) -> str:
    """A hash of every file's path and bytes: a new version means a new folder."""
    digest = hashlib.sha256()
    for name in files:
        data = (root / name).read_bytes()
        digest.update(f"{name}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()[:HASH_LENGTH]
