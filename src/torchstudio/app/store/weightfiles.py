"""Large weights kept as files beside the project file, each written once.

A resnet18's checkpoint (135 MB) stored in SQLite costs about eight times the CPU of
writing it to a file (0.41 s against 0.05 s, benchmarks/bench_training.py's machine):
SQLite's write-ahead log takes it first, then the database file, page by page. Weights of
FILE_THRESHOLD bytes and more are therefore files in a folder beside the project
(`name.tsproj-weights/`), and the project file's `weights` row names the file and its
size; smaller weights stay inside the project file.

A file is never changed once written: new weights get a new name, are written under a
temporary name, flushed to the disk and renamed before the project's row names them, so
a kill at any moment leaves every row naming a complete file. A file that no row names (a
kill between the two steps) is removed the next time the project opens.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import time
from pathlib import Path

# Below this, a file's own costs (a name, an inode, a flush) outweigh SQLite's copies.
FILE_THRESHOLD = 1 << 20
FOLDER_SUFFIX = "-weights"
# The only names this module writes, reads or removes: nothing else in the folder is touched,
# and a name from a project file cannot point outside the folder.
NAME = re.compile(r"run\d+-(best|checkpoint)-e\d+-[0-9a-f]{8}\.safetensors")
PART = ".part"
# An unnamed file younger than this may be another process's save about to be committed.
ORPHAN_AGE_S = 60.0


class MissingWeightsFile(OSError):
    """The project names a weights file that is not in its folder (or has another size)."""


def folder_of(project_path: Path) -> Path:
    """The folder holding `project_path`'s weight files."""
    return Path(f"{project_path}{FOLDER_SUFFIX}")


def new_name(run_id: int, kind: str, epoch: int) -> str:
    """A name no earlier save of this run and kind has used."""
    return f"run{int(run_id)}-{kind}-e{int(epoch)}-{secrets.token_hex(4)}.safetensors"


def write(folder: Path, name: str, data: bytes | memoryview) -> None:
    """Write `data` as `folder/name`, complete and on the disk before the name exists."""
    folder.mkdir(exist_ok=True)
    part = folder / f"{name}{PART}"
    try:
        with open(part, "xb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(part, folder / name)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    _sync_folder(folder)


def read(folder: Path, name: str, size: int) -> bytes:
    """The bytes of `folder/name`; MissingWeightsFile if it is not there or not `size` long."""
    if not NAME.fullmatch(name):
        raise MissingWeightsFile(f"{name!r} is not a weights file name TorchStudio writes")
    path = folder / name
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise MissingWeightsFile(f"{path} is missing") from None
    if len(data) != size:
        raise MissingWeightsFile(f"{path} has {len(data)} bytes, the project says {size}")
    return data


def remove(folder: Path, names: list[str]) -> None:
    """Remove these weight files (a name TorchStudio did not write is left alone)."""
    for name in names:
        if NAME.fullmatch(name):
            (folder / name).unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # still holds other files, or is gone already
        folder.rmdir()


def sweep(folder: Path, named: set[str], now: float | None = None) -> list[str]:
    """Remove the weight files and unfinished writes no row names, older than
    ORPHAN_AGE_S; returns the names removed."""
    if not folder.is_dir():
        return []
    now = time.time() if now is None else now
    removed = []
    for path in folder.iterdir():
        name = path.name.removesuffix(PART)
        if not NAME.fullmatch(name) or path.name in named:
            continue
        with contextlib.suppress(OSError):
            if now - path.stat().st_mtime >= ORPHAN_AGE_S:
                path.unlink()
                removed.append(path.name)
    remove(folder, [])  # the folder too, once empty
    return removed


def copy(source: Path, target: Path, names: list[str]) -> None:
    """Put these files of `source` into `target`: hard links where the disk allows (a
    file is never changed once written, so both projects can share it), else copies."""
    for name in names:
        if not NAME.fullmatch(name):
            continue
        target.mkdir(exist_ok=True)
        try:
            os.link(source / name, target / name)
        except FileExistsError:
            pass
        except OSError:
            shutil.copyfile(source / name, target / name)


def _sync_folder(folder: Path) -> None:
    """Flush the folder's entries, so the rename survives a power cut."""
    with contextlib.suppress(OSError):  # some file systems cannot open a folder
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
