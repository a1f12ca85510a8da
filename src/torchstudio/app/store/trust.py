"""Project trust, like Jupyter's notebook trust: code from elsewhere runs only once allowed.

A project holds code (the dataset, models, losses, metrics, optimizers, schedulers,
renderers, analyzers) and imports code: the modules of a `modules/` folder next to it, and
those of the `workdir` folders its dataset and models run from (first on their import
path, so a folder named like a library there would be imported instead of it). Opening one
never runs it; the app then runs it in workers when the user asks. A project created or
trusted on this machine is recorded in TORCHSTUDIO_HOME/trusted.json under its path with a
fingerprint of its code; one whose path or code does not match (received from someone
else, or edited outside the app) is untrusted: `GatedPool` starts no worker that runs
project code until the user trusts it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torchstudio.app.runtime.manager import WorkerError, WorkerHandle, WorkerManager
from torchstudio.app.runtime.pool import WorkerPool
from torchstudio.app.store.project import Project

if TYPE_CHECKING:
    from torchstudio.app.runtime.remote_servers import Servers

TRUST_FILE = "trusted.json"
CODE_KEYS = ("code", "loss", "metric", "optimizer", "scheduler")
# Workers that only draw or check what the app gives them: no project code runs in them.
CODE_FREE_WORKERS = ("pythoncheck", "graphdraw", "metricsplot", "parametersplot")
# What `import` reaches in a folder on the import path: modules, compiled or not, in
# folders (packages) whose names are identifiers.
IMPORTABLE_SUFFIXES = (".py", ".pyc", ".so", ".pyd")
MAX_FOLDER_FILES = 1000
MAX_FOLDER_DEPTH = 8
MAX_WALK_ENTRIES = 20_000  # directory entries looked at in one folder (a home folder...)
IMPORT_PATH = "import path: "  # how a folder code runs or imports from is listed


# Files read for fingerprints, by path: (status key, text). Checks run often (before each
# code-running worker, after each save): an unchanged file is not read again.
_read_files: dict[str, tuple[tuple[int, int, int, int], str]] = {}
_read_lock = threading.Lock()
RACY_SECONDS = 2


class UntrustedProject(WorkerError):
    """Code of an untrusted project was about to run; the message says how to allow it."""


def _code_strings(value: Any, where: str, in_code: bool = False) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        if in_code and value.strip():
            yield where, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            is_code = in_code or str(key) in CODE_KEYS or str(key).endswith("_code")
            yield from _code_strings(item, f"{where}.{key}" if where else str(key), is_code)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _code_strings(item, f"{where}[{index}]", in_code)


@dataclass
class ProjectCode:
    """Every piece of code a project runs or imports, read now."""

    parts: list[tuple[str, str]]  # (where, code), in a stable order
    folders: dict[str, str]  # folder label -> fingerprint of its importable files


def _workdirs(project: Project) -> list[str]:
    """The folders the dataset's and models' code run from (first on their import path)."""
    documents = [project.document("dataset")] + [project.model(n) for n in project.model_names()]
    found = []
    for document in documents:
        workdir = document.get("workdir") if isinstance(document, Mapping) else None
        if isinstance(workdir, str) and workdir.strip():
            path = os.path.abspath(os.path.expanduser(workdir))
            if path not in found:
                found.append(path)
    return found


def _importable(name: str) -> bool:
    """Whether `import` could reach this file or folder name (a module, a package)."""
    stem = name.split(".", 1)[0]
    return stem.isidentifier() and ("." not in name or name.endswith(IMPORTABLE_SUFFIXES))


def importable_files(folder: Path) -> tuple[list[Path], int, bool]:
    """The files of `folder` that `import` can reach (sorted; at most MAX_FOLDER_FILES), how
    many more there are, and whether the whole folder was looked at (MAX_WALK_ENTRIES).
    Folders whose names no import can spell are skipped."""
    found: list[Path] = []
    more = 0
    seen = 0
    pending = [(folder, 0)]
    while pending and seen < MAX_WALK_ENTRIES:
        directory, depth = pending.pop()
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError:
            continue  # unreadable (or a symlink loop): the workers cannot import from it either
        seen += len(entries)
        for entry in entries:
            if not _importable(entry.name):
                continue
            try:
                is_dir = entry.is_dir()
            except OSError:
                continue
            if is_dir:
                if "." not in entry.name and depth < MAX_FOLDER_DEPTH:
                    pending.append((Path(entry.path), depth + 1))
            elif entry.name.endswith(IMPORTABLE_SUFFIXES):
                if len(found) < MAX_FOLDER_FILES:
                    found.append(Path(entry.path))
                else:
                    more += 1
    return sorted(found), more, not pending


def _file_code(file: Path) -> str | None:
    """The file's text (a compiled module: its size and digest), read again only when its
    status changed: a write changes its ctime, which no one can set back."""
    try:
        status = file.stat()
        key = (status.st_ino, status.st_size, status.st_mtime_ns, status.st_ctime_ns)
        with _read_lock:
            known = _read_files.get(str(file))
        if known is not None and known[0] == key:
            return known[1]
        data = file.read_bytes()
    except OSError:
        return None  # an unreadable file cannot be imported by the workers either
    if file.suffix == ".py":
        code = data.decode("utf-8", errors="replace")
    else:
        code = f"<compiled module, {len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()}>"
    # A file changed less than RACY_SECONDS ago may change again within the same clock
    # tick, keeping its status: read it again next time (as git does with racy entries).
    if time.time_ns() - status.st_ctime_ns > RACY_SECONDS * 1e9:
        with _read_lock:
            if len(_read_files) > MAX_FOLDER_FILES * 10:
                _read_files.clear()
            _read_files[str(file)] = (key, code)
    return code


def _folder_parts(label: str, folder: Path) -> list[tuple[str, str]]:
    if not folder.is_dir():
        return []
    files, more, whole = importable_files(folder)
    parts = []
    for file in files:
        code = _file_code(file)
        if code is not None:
            parts.append((f"{label}{file.relative_to(folder)}", code))
    if more:
        parts.append((f"{label}... and {more} more files", f"{more} files not read"))
    if not whole:
        parts.append((f"{label}... (looked at its first {MAX_WALK_ENTRIES} entries only)", ""))
    return parts


def read_code(project: Project) -> ProjectCode:
    """The project's code: its documents and models, its modules/ folder, its workdirs."""
    parts: list[tuple[str, str]] = []
    for name in project.document_names():
        parts += [
            (f"document {name}: {w}", c) for w, c in _code_strings(project.document(name), "")
        ]
    for name in project.model_names():
        parts += [(f"model {name!r}: {w}", c) for w, c in _code_strings(project.model(name), "")]
    folders = {"modules/": project.path.parent / "modules"}
    for workdir in _workdirs(project):
        folders.setdefault(f"workdir {workdir}{os.sep}", Path(workdir))
    prints = {}
    for label, folder in folders.items():
        found = _folder_parts(label, folder)
        prints[label] = fingerprint(found)
        if label != "modules/" or found:
            # The folder itself, even empty: code runs from it and imports from it first.
            parts.append((f"{IMPORT_PATH}{folder}{os.sep}", ""))
        parts += found
    return ProjectCode(parts, prints)


def code_parts(project: Project) -> list[tuple[str, str]]:
    """(where, code) for every piece of code the project holds or imports, in a stable order."""
    return read_code(project).parts


def fingerprint(parts: list[tuple[str, str]]) -> str:
    digest = hashlib.sha256()
    for where, code in parts:
        for text in (where, code):
            data = text.encode("utf-8", "surrogatepass")
            digest.update(len(data).to_bytes(8, "little") + data)
    return digest.hexdigest()


def summary(parts: list[tuple[str, str]]) -> list[str]:
    """One line per code part for the banner: where it is and how many lines it has (a
    folder on the import path: that it is one)."""
    return [
        f"{where} (on the import path: its modules are listed below)"
        if where.startswith(IMPORT_PATH)
        else f"{where} ({len(code.splitlines())} lines)"
        for where, code in parts
    ]


class TrustStore:
    """The trusted projects of this user: path -> code fingerprint, in one JSON file."""

    def __init__(self, home: Path) -> None:
        self.file = Path(home) / TRUST_FILE

    def _read(self) -> dict[str, str]:
        try:
            data = json.loads(self.file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return (
            {k: v for k, v in data.items() if isinstance(v, str)} if isinstance(data, dict) else {}
        )

    def is_trusted(self, project: Project, code_print: str | None = None) -> bool:
        """True when the project has no code, or its path and code are as last trusted here
        (`code_print`: the fingerprint of its code, when read already)."""
        if code_print is None:
            parts = code_parts(project)
            if not parts:
                return True
            code_print = fingerprint(parts)
        elif code_print == fingerprint([]):
            return True
        return self._read().get(str(project.path)) == code_print

    def trust(self, project: Project, code_print: str | None = None) -> None:
        """Record the project's code (`code_print`: its fingerprint, when read already) as
        trusted, atomically: a crash loses nothing."""
        entries = self._read()
        entries[str(project.path)] = code_print or fingerprint(code_parts(project))
        self.file.parent.mkdir(parents=True, exist_ok=True)
        # One temporary file per thread: the app records from its loop and from threads.
        temporary = self.file.with_name(f"{TRUST_FILE}.{os.getpid()}.{threading.get_ident()}.tmp")
        temporary.write_text(json.dumps(entries, indent=1), encoding="utf-8")
        os.replace(temporary, self.file)


class GatedPool(WorkerPool):
    """The app's worker pool, refusing to start code-running workers while `allowed()` is False."""

    def __init__(
        self,
        manager: WorkerManager,
        env: Mapping[str, str] | None = None,
        allowed: Callable[[], bool] = lambda: True,
        servers: Servers | None = None,
    ) -> None:
        super().__init__(manager, env, servers)
        self.allowed = allowed

    async def get(
        self, script: str, name: str | None = None, server: str | None = None
    ) -> WorkerHandle:
        # `allowed` reads the project's code and folders again (I/O): not on the loop.
        if script not in CODE_FREE_WORKERS and not await asyncio.to_thread(self.allowed):
            raise UntrustedProject(
                "this project was not created or trusted on this machine (or its code changed "
                "outside the app since) and contains code: nothing of it runs until you trust it (read the list of its code in the "
                "banner at the top, then press 'Trust and allow its code')"
            )
        return await super().get(script, name, server)
