"""The demo project: scikit-learn's Digits (offline) and an MNISTClassifier model tab."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from torchstudio.app.catalog import Catalog, code_for, module_key
from torchstudio.app.dataset.definition import new_definition
from torchstudio.app.store.project import Project

DEMO_MODEL = "MNISTClassifier"


def new_model(catalog: Catalog, name: str = DEMO_MODEL, **settings: Any) -> dict[str, Any]:
    """A model document for built-in model `name`; training settings not given here are
    taken from `modelbuild`'s suggestions once the model is built."""
    info = catalog.find_name("models", name)
    if info is None:
        raise KeyError(f"no model module named {name}")
    code, _ = code_for(info, {})
    return model_document(code or "", module_key(info), settings)


def model_document(
    code: str, module: str | None = None, settings: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "module": module,
        "values": {},
        "code": code,
        "code_edited": module is None,
        "settings": {"device": "cpu", **(settings or {})},
        "build": None,
        "status": "not built",
    }


def write_demo(path: str | os.PathLike[str], catalog: Catalog | None = None) -> Project:
    """Write the demo project to `path` (a new file) and return it, open."""
    catalog = catalog or Catalog()
    project = Project.create(Path(path))
    with project.transaction():
        project.set_document("dataset", new_definition(catalog).to_json())
        project.add_model(DEMO_MODEL, new_model(catalog, epochs=5))
        project.set_meta("description", "TorchStudio demo: Digits and an MNISTClassifier")
    return project


def write_from_files(
    path: str | os.PathLike[str], dataset_file: str | None, model_files: list[str]
) -> Project:
    """A project from code files the user has: one defining `train`/`valid`, others `model`."""
    catalog = Catalog()
    definition = new_definition(catalog)
    if dataset_file is not None:
        source = Path(dataset_file).expanduser().resolve()
        definition.module, definition.values = None, {}
        definition.code, definition.code_edited = source.read_text(encoding="utf-8"), True
        definition.workdir = str(source.parent)
    project = Project.create(Path(path))
    with project.transaction():
        project.set_document("dataset", definition.to_json())
        for file in model_files:
            source = Path(file).expanduser().resolve()
            document = model_document(source.read_text(encoding="utf-8"))
            document["workdir"] = str(source.parent)
            project.add_model(source.stem, document)
    return project
