"""The project's models as the Model tabs edit them: add, duplicate, rename, delete, settings.

Pure functions over the project store, so the tabs' logic is tested without a browser.
"""

from __future__ import annotations

import copy
from typing import Any

from torchstudio.app.catalog import Catalog, code_for, module_key
from torchstudio.app.demo import DEMO_MODEL, model_document, new_model
from torchstudio.app.project import Project

PRECISIONS = ("fp32", "tf32", "fp16", "bf16")
# Settings a user types in the tab, with the type their text becomes.
NUMBER_SETTINGS = {"batch_size": int, "epochs": int, "early_stop": int, "seed": int}


def add_model(project: Project, catalog: Catalog, name: str = DEMO_MODEL) -> str:
    """A new model tab with a built-in model (the demo's by default); returns its name."""
    return project.add_model(name, new_model(catalog, name))


def duplicate_model(project: Project, name: str, new_name: str | None = None) -> str:
    """A copy with the code and every setting, but no build, epochs or weights."""
    document = copy.deepcopy(project.model(name))
    document.update(build=None, status="not built", training=None)
    return project.add_model(new_name or name, document)


def rename_model(project: Project, name: str, new_name: str) -> str:
    new_name = new_name.strip()
    if not new_name:
        raise ValueError("a model needs a name")
    if new_name != name:
        project.rename_model(name, new_name)
    return new_name


def choose_module(project: Project, catalog: Catalog, name: str, key: str) -> None:
    """Use model module `key` with its default parameters; its code replaces the model's."""
    info = catalog.find("models", key)
    if info is None:
        raise KeyError(f"no model module {key}")
    code, _ = code_for(info, {})
    project.update_model(name, module=module_key(info), values={}, code=code or "")


def set_value(project: Project, catalog: Catalog, name: str, parameter: str, text: str) -> str:
    """Change one parameter of the model module; returns the error text ('' when valid)."""
    document = project.model(name)
    info = catalog.find("models", document.get("module") or "")
    if info is None:
        return "custom code: edit the code"
    values = {**(document.get("values") or {}), parameter: text}
    code, errors = code_for(info, values)
    if code is None:
        return next(iter(errors.values()))
    project.update_model(name, values=values, code=code, code_edited=False)
    return ""


def set_code(project: Project, name: str, code: str) -> None:
    if code != project.model(name).get("code"):
        project.update_model(name, code=code, code_edited=True, status="not built")


# Training parts the tab picks from modules: setting -> module kind in the catalog.
PART_KINDS = {"loss": "loss", "metric": "metrics", "optimizer": "optim", "scheduler": "schedulers"}


def part_code(key: str, code: str) -> Any:
    """A setting's value for a part's code: one chunk per output for losses and metrics."""
    return [code] if key in ("loss", "metric") else code


def choose_part(project: Project, catalog: Catalog, name: str, key: str, module: str) -> str:
    """Use module `module` (defaults) for training part `key`; returns its code."""
    info = catalog.find(PART_KINDS[key], module)
    if info is None:
        raise KeyError(f"no {key} module {module}")
    code, _ = code_for(info, {})
    document = project.model(name)
    parts = {**(document.get("parts") or {}), key: {"module": module, "values": {}}}
    settings = {**(document.get("settings") or {}), key: part_code(key, code or "")}
    project.update_model(name, parts=parts, settings=settings)
    return code or ""


def set_part_value(
    project: Project, catalog: Catalog, name: str, key: str, parameter: str, text: str
) -> str:
    """Change one parameter of a training part's module; returns the error text ('' if valid)."""
    document = project.model(name)
    part = (document.get("parts") or {}).get(key) or {}
    info = catalog.find(PART_KINDS[key], part.get("module") or "")
    if info is None:
        return "pick a module first"
    values = {**(part.get("values") or {}), parameter: text}
    code, errors = code_for(info, values)
    if code is None:
        return next(iter(errors.values()))
    parts = {**(document.get("parts") or {}), key: {**part, "values": values}}
    settings = {**(document.get("settings") or {}), key: part_code(key, code)}
    project.update_model(name, parts=parts, settings=settings)
    return ""


def parse_setting(key: str, text: Any) -> Any:
    """The value a setting's text stands for; '' clears it (back to the suggestion)."""
    if text is None or text == "":
        return None
    if key in NUMBER_SETTINGS:
        value = NUMBER_SETTINGS[key](text)
        if value < 1:
            raise ValueError(f"{key} must be at least 1")
        return value
    if key == "precision" and text not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}")
    return text


def set_setting(project: Project, name: str, key: str, value: Any) -> None:
    settings = {**(project.model(name).get("settings") or {}), key: value}
    project.update_model(name, settings=settings)


def effective_settings(document: dict[str, Any]) -> dict[str, Any]:
    """The model's settings, each missing one filled from modelbuild's suggestions."""
    suggestions = (document.get("build") or {}).get("suggestions") or {}
    hyper = suggestions.get("hyperparameters") or {}
    chosen = {k: v for k, v in (document.get("settings") or {}).items() if v is not None}
    return {
        "device": chosen.get("device", "cpu"),
        "precision": chosen.get("precision", "fp32"),
        "epochs": chosen.get("epochs", hyper.get("epochs", 10)),
        "batch_size": chosen.get("batch_size", hyper.get("batch_size", 64)),
        "early_stop": chosen.get("early_stop"),
        "shuffle": chosen.get("shuffle", True),
        "class_weights": chosen.get("class_weights", False),
        "loss": chosen.get("loss") or [s["code"] for s in suggestions.get("loss", [])],
        "metric": chosen.get("metric") or [s["code"] for s in suggestions.get("metric", [])],
        "optimizer": chosen.get("optimizer") or (suggestions.get("optimizer") or {}).get("code"),
        "scheduler": chosen.get("scheduler", (suggestions.get("scheduler") or {}).get("code", "")),
    }


__all__ = [
    "add_model",
    "choose_module",
    "choose_part",
    "duplicate_model",
    "effective_settings",
    "model_document",
    "parse_setting",
    "rename_model",
    "set_code",
    "set_part_value",
    "set_setting",
    "set_value",
]
