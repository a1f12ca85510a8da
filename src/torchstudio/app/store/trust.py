"""Project trust, like Jupyter's notebook trust: code from elsewhere runs only once allowed.

A project holds code (the dataset, models, losses, metrics, optimizers, schedulers,
renderers, analyzers, and the .py files of a `modules/` folder next to it). Opening one
never runs it; the app then runs it in workers when the user asks. A project created or
trusted on this machine is recorded in TORCHSTUDIO_HOME/trusted.json under its path with a
fingerprint of its code; one whose path or code does not match (received from someone
else, or edited outside the app) is untrusted: `GatedPool` starts no worker that runs
project code until the user trusts it.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable, Iterator, Mapping
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
MAX_MODULE_FILES = 200


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


def code_parts(project: Project) -> list[tuple[str, str]]:
    """(where, code) for every piece of code the project holds, in a stable order."""
    parts: list[tuple[str, str]] = []
    for name in project.document_names():
        parts += [
            (f"document {name}: {w}", c) for w, c in _code_strings(project.document(name), "")
        ]
    for name in project.model_names():
        parts += [(f"model {name!r}: {w}", c) for w, c in _code_strings(project.model(name), "")]
    modules = project.path.parent / "modules"
    if modules.is_dir():
        files = sorted(modules.rglob("*.py"))[:MAX_MODULE_FILES]
        for file in files:
            try:
                text = file.read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue  # an unreadable file cannot be imported by the workers either
            parts.append((f"modules/{file.relative_to(modules)}", text))
    return parts


def fingerprint(parts: list[tuple[str, str]]) -> str:
    digest = hashlib.sha256()
    for where, code in parts:
        for text in (where, code):
            data = text.encode("utf-8", "surrogatepass")
            digest.update(len(data).to_bytes(8, "little") + data)
    return digest.hexdigest()


def summary(parts: list[tuple[str, str]]) -> list[str]:
    """One line per code part for the banner: where it is and how many lines it has."""
    return [f"{where} ({len(code.splitlines())} lines)" for where, code in parts]


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

    def is_trusted(self, project: Project) -> bool:
        """True when the project has no code, or its path and code are as last trusted here."""
        parts = code_parts(project)
        return not parts or self._read().get(str(project.path)) == fingerprint(parts)

    def trust(self, project: Project) -> None:
        """Record the project's current code as trusted (atomically: a crash loses nothing)."""
        entries = self._read()
        entries[str(project.path)] = fingerprint(code_parts(project))
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
        if script not in CODE_FREE_WORKERS and not self.allowed():
            raise UntrustedProject(
                "this project was not created or trusted on this machine and contains code: "
                "nothing of it runs until you trust it (read the list of its code in the "
                "banner at the top, then press 'Trust and allow its code')"
            )
        return await super().get(script, name, server)
