"""The modules the UI offers, grouped by origin, and the code a choice of module generates."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from torchstudio.pythonparse import ModuleInfo, ParseError, generate_code, scan_all, scan_builtin

# The order groups are shown in, with the label the user reads.
ORIGINS = {
    "torchstudio": "Built-in",
    "project": "Project modules",
    "user": "User modules",
    "torchvision": "torchvision",
    "timm": "timm",
    "torch": "torch",
    "torchmetrics": "torchmetrics",
}


def module_key(info: ModuleInfo) -> str:
    """A stable id for a module in select boxes and in the project: `origin:name`."""
    return f"{info.origin}:{info.name}"


@dataclass
class Catalog:
    """Every module by kind. Starts with the built-in ones; `scan()` adds the rest."""

    modules: dict[str, list[ModuleInfo]] = field(default_factory=scan_builtin)
    errors: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def scan(self, project_modules: Path | None = None) -> None:
        """Scan every origin (a blocking call: libraries come from a cache, ~0.3 s)."""
        errors: list[str] = []
        modules = scan_all(project_modules, errors=errors)
        with self._lock:
            self.modules, self.errors = modules, errors

    def grouped(self, kind: str) -> dict[str, list[ModuleInfo]]:
        """The modules of `kind` by origin label, in the order of ORIGINS."""
        groups: dict[str, list[ModuleInfo]] = {}
        for info in self.modules.get(kind, []):
            groups.setdefault(ORIGINS.get(info.origin, info.origin), []).append(info)
        return {label: groups[label] for label in ORIGINS.values() if label in groups} | {
            label: infos for label, infos in groups.items() if label not in ORIGINS.values()
        }

    def find(self, kind: str, key: str) -> ModuleInfo | None:
        origin, _, name = key.partition(":")
        return next(
            (m for m in self.modules.get(kind, []) if m.origin == origin and m.name == name), None
        )

    def find_name(self, kind: str, name: str) -> ModuleInfo | None:
        """The first module called `name` (built-in ones come first)."""
        return next((m for m in self.modules.get(kind, []) if m.name == name), None)


def form_parameters(info: ModuleInfo) -> list[dict[str, str | bool]]:
    """The parameters a form shows (not those the studio fills), with their default text."""
    return [
        {
            "name": p.name,
            "default": p.default or "",
            "annotation": p.annotation,
            "required": p.required,
        }
        for p in info.parameters
        if not p.filled_by_studio
    ]


def code_for(info: ModuleInfo, values: dict[str, str]) -> tuple[str | None, dict[str, str]]:
    """The generated code, or None and {parameter: error text} when a value is not valid."""
    try:
        return generate_code(info, values), {}
    except ParseError as exc:
        return None, {exc.parameter or "": str(exc)}
