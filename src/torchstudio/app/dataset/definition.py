"""The Dataset tab's definition as stored in the project: pure functions, no I/O.

The definition is one JSON document: the chosen module and its parameter texts, the code
(generated from them, or edited by hand), the split/shuffle/usage settings, a role and a
renderer per tensor, the analyzer, and the last load report and analysis results.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from torchstudio.app.catalog import Catalog, code_for, module_key
from torchstudio.pythonparse import ModuleInfo

DEFAULT_MODULE = "torchstudio:Digits"
SHUFFLE_MODES = {"none": "No shuffle", "train": "Shuffle training samples", "all": "Shuffle all"}
ROLES = ("input", "output", "both", "none")
SETTINGS_DEFAULTS: dict[str, Any] = {
    "split_ratio": 0.8,
    "training_samples": None,
    "shuffle": "none",
    "seed": 0,
    "usage_ratio": 1.0,
}


def new_definition(catalog: Catalog, key: str = DEFAULT_MODULE) -> dict[str, Any]:
    """A definition using module `key` with its default parameters."""
    definition: dict[str, Any] = {
        "module": None,
        "values": {},
        "code": "",
        "code_edited": False,
        "workdir": None,
        "settings": dict(SETTINGS_DEFAULTS),
        "roles": [],
        "renderers": [],
        "analyzer": None,
        "report": None,
        "analysis": None,
    }
    info = catalog.find("datasets", key)
    return choose_module(definition, info) if info else definition


def choose_module(definition: dict[str, Any], info: ModuleInfo) -> dict[str, Any]:
    """Pick a dataset module: its default parameters and the code they generate."""
    changed = copy.deepcopy(definition)
    changed["module"] = module_key(info)
    changed["values"] = {}
    code, _ = code_for(info, {})
    changed["code"] = code or ""
    changed["code_edited"] = False
    return changed


def set_value(
    definition: dict[str, Any], info: ModuleInfo, name: str, text: str
) -> tuple[dict[str, Any], dict[str, str]]:
    """Change one parameter's text; the code follows unless the value is invalid."""
    changed = copy.deepcopy(definition)
    changed["values"][name] = text
    code, errors = code_for(info, changed["values"])
    if code is not None:
        changed["code"], changed["code_edited"] = code, False
    return changed, errors


def edit_code(definition: dict[str, Any], code: str) -> dict[str, Any]:
    changed = copy.deepcopy(definition)
    changed["code"], changed["code_edited"] = code, True
    return changed


def error_line(text: str, description: str = "dataset code") -> int | None:
    """The line of the user's code an error text points at (its innermost mention)."""
    lines = re.findall(rf'File "{re.escape(description)}", line (\d+)', text)
    return int(lines[-1]) if lines else None


def settings_payload(definition: dict[str, Any]) -> dict[str, Any]:
    """The split settings `datasetload` takes (roles stay in the app: they do not re-split)."""
    settings = {**SETTINGS_DEFAULTS, **definition.get("settings", {})}
    return {key: settings[key] for key in SETTINGS_DEFAULTS}


def renderer_entry(catalog: Catalog, name: str) -> dict[str, Any]:
    """A renderer choice for one tensor: a built-in renderer by name with default values."""
    info = catalog.find_name("renderers", name)
    code, _ = code_for(info, {}) if info else (None, {})
    return {"module": module_key(info) if info else None, "code": code or "", "custom": False}


def analyzer_entry(catalog: Catalog, name: str) -> dict[str, Any]:
    info = catalog.find_name("analyzers", name)
    code, _ = code_for(info, {}) if info else (None, {})
    return {"module": module_key(info) if info else None, "code": code or ""}


def apply_report(
    definition: dict[str, Any], report: dict[str, Any], catalog: Catalog
) -> dict[str, Any]:
    """Keep a load report, and fill roles, renderers and analyzer from its suggestions
    where the user has not chosen them for tensors like these."""
    changed = copy.deepcopy(definition)
    changed["report"] = {k: v for k, v in report.items() if k != "link"}
    count = len(report["tensors"])
    suggestions = report.get("suggestions", {})
    if len(changed.get("roles") or []) != count:
        changed["roles"] = list(suggestions.get("roles") or report["roles"])
    if len(changed.get("renderers") or []) != count:
        names = suggestions.get("renderers") or ["Bitmap"] * count
        changed["renderers"] = [renderer_entry(catalog, name) for name in names]
    if not changed.get("analyzer"):
        changed["analyzer"] = analyzer_entry(catalog, suggestions.get("analyzer") or "Multiclass")
    return changed


def tensor_ids(roles: list[str]) -> tuple[list[int], list[int]]:
    """(input ids, output ids) from the roles; `both` counts as either."""
    inputs = [i for i, role in enumerate(roles) if role in ("input", "both")]
    outputs = [i for i, role in enumerate(roles) if role in ("output", "both")]
    return inputs, outputs
