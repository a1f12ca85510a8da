"""The Model tabs' actions and their state (build, output view, exports), kept in the app.

Pages call these and follow their "actions" changes; a reload or a second browser tab shows the same.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torchstudio.app.checked import DocumentError
from torchstudio.app.dataset.definition import tensor_ids
from torchstudio.app.dataset.samples import error_image, png_bytes
from torchstudio.app.dataset.service import RENDERER
from torchstudio.app.models.codeexport import ExportError, export_model
from torchstudio.app.models.service import ModelError, ModelService
from torchstudio.app.models.views import ModelViews
from torchstudio.app.runtime.manager import WorkerError
from torchstudio.app.store.logbook import file_size, last_line

OUTPUT_KINDS = ("inputs", "outputs", "targets")  # the output view's rows of images


@dataclass
class ModelState:
    build_status: str = ""  # "" / building / built / error
    build_error: str | None = None
    level: int = 1
    opened: tuple[str, ...] = ()  # module calls of the graph opened in place at this level
    prediction: dict[str, Any] | None = None
    serial: int = 0  # one per prediction: in its image URLs
    tensors: dict[str, list[Any]] = field(default_factory=dict)  # the prediction's
    images: dict[tuple[Any, ...], bytes] = field(default_factory=dict)
    export_message: str = ""
    busy: set[str] = field(default_factory=set)


class ModelActions:
    """Build, predict and export, each reporting into the model's `ModelState`."""

    def __init__(self, models: ModelService, views: ModelViews) -> None:
        self.models = models
        self.views = views
        self.states: dict[str, ModelState] = {}

    def state(self, name: str) -> ModelState:
        return self.states.setdefault(name, ModelState())

    def _changed(self, name: str) -> None:
        self.models.project.changes.emit("actions", name)

    def rename(self, name: str, new_name: str) -> None:
        if name in self.states:
            self.states[new_name] = self.states.pop(name)
        for table in (self.models.built, self.models.built_from, self.models.graphs):
            if name in table:
                table[new_name] = table.pop(name)
        self._changed(new_name)

    async def build(self, name: str) -> bool:
        state = self.state(name)
        state.build_status, state.build_error = "building", None
        self._changed(name)
        try:
            result = await self.models.build(name, graph=True)
        except (ModelError, WorkerError) as exc:
            state.build_status, state.build_error = "error", str(exc)
            self.models.project.update_model(name, status="error")
            self._changed(name)
            self.models.log(f"build of {name} failed: {last_line(str(exc))}")
            return False
        state.build_status = "built"
        total = (result.get("parameters") or {}).get("total")
        self.models.log(f"built {name}" + (f": {total:,} parameters" if total is not None else ""))
        state.level = min(max(1, state.level), max(1, self.views.graph_levels(name)))
        self._changed(name)
        return True

    def set_level(self, name: str, level: int) -> None:
        """Draw the graph at `level`; modules opened in place close (the slider says it all)."""
        state = self.state(name)
        if state.level == int(level):
            return
        state.level, state.opened = int(level), ()
        self._changed(name)

    def open_module(self, name: str, key: str) -> None:
        """Open the module call `key` of the graph in place: its children are drawn."""
        state = self.state(name)
        if key not in state.opened:
            state.opened = (*state.opened, key)
            self._changed(name)

    def close_all(self, name: str) -> None:
        state = self.state(name)
        if state.opened:
            state.opened = ()
            self._changed(name)

    def close_module(self, name: str, key: str) -> None:
        """Close the opened module call `key` and every call opened inside it."""
        state = self.state(name)
        kept = tuple(k for k in state.opened if k != key and not k.startswith(key + "."))
        if kept != state.opened:
            state.opened = kept
            self._changed(name)

    async def predict(self, name: str, index: int) -> None:
        state = self.state(name)
        try:
            prediction = await self.views.predict(name, index)
        except (ModelError, WorkerError) as exc:
            prediction = {"index": index, "error": str(exc), "outputs": []}
        state.tensors = prediction.pop("tensors", {})
        state.images.clear()
        state.serial += 1
        state.prediction = {**prediction, "serial": state.serial}
        self._changed(name)

    def _renderer_code(self, kind: str, position: int) -> str:
        """The Dataset tab's renderer of the tensor shown: outputs use their target's."""
        definition = self.models.dataset.definition
        renderers = definition.renderers
        inputs, outputs = tensor_ids(definition.roles)
        ids = inputs if kind == "inputs" else outputs
        if not ids:
            return ""
        tensor = ids[min(position, len(ids) - 1)]  # an output with no target: the last one's
        return renderers[tensor]["code"] if tensor < len(renderers) else ""

    async def output_image(
        self, name: str, kind: str, position: int, size: tuple[int, int]
    ) -> bytes:
        """A PNG of tensor `position` of the last prediction's inputs, outputs or targets."""
        state = self.state(name)
        tensors = state.tensors.get(kind) or []
        if kind not in OUTPUT_KINDS or not 0 <= position < len(tensors):
            return error_image(f"the prediction has no {kind[:-1]} {position + 1}", size)
        key = (state.serial, kind, position, size)
        if key not in state.images:
            targets = state.tensors.get("targets") or []
            request: dict[str, Any] = {
                "code": self._renderer_code(kind, position),
                "tensor": tensors[position],
                "size": list(size),
                "labels": list((self.models.dataset.report or {}).get("classes") or []),
                "input_tensors": state.tensors.get("inputs") or [],
            }
            if kind == "outputs" and position < len(targets):  # e.g. labels: predicted vs true
                request["target_tensor"] = targets[position]
            try:
                renderer = await self.models.pool.get(RENDERER)
                image = await renderer.request("render", request)
            except WorkerError as exc:  # not kept: the next try may work
                return error_image(str(exc), size)
            state.images[key] = await asyncio.to_thread(png_bytes, image)
        return state.images[key]

    async def export(self, name: str, fmt: str, path: str) -> dict[str, Any] | None:
        """Write the model in `fmt` to `path` on this machine (the app's, wherever it trained)."""
        state = self.state(name)
        if not path.strip():
            state.export_message = "export failed: give the path of the file to save"
            self._changed(name)
            return None
        # The app's own reading of the path: the worker's working folder may differ.
        path = os.path.abspath(os.path.expanduser(path.strip()))
        state.export_message = f"exporting {fmt}..."
        self._changed(name)
        try:
            result = await self.views.export(name, fmt, path)
        except (ModelError, WorkerError) as exc:
            state.export_message = f"export failed: {exc}"
            self._changed(name)
            self.models.log(f"export of {name} failed: {last_line(str(exc))}")
            return None
        state.export_message = (
            f"exported {result['format']} of run {result['run']} to {result['path']} "
            f"({result['bytes']} bytes, "
            f"checked: max difference {result['max_difference']:.2g})"
        )
        self._changed(name)
        self.models.log(
            f"exported {name} run {result['run']} as {result['format']} to {result['path']} "
            f"({file_size(int(result['bytes']))})"
        )
        return result

    def export_code(self, name: str, folder: str) -> list[str] | None:
        """Write the model and the dataset as a Python project into `folder` (codeexport.py):
        the files' paths, or None with the reason in the export message."""
        state = self.state(name)
        if not folder.strip():
            state.export_message = "export failed: give the folder to write the project in"
            self._changed(name)
            return None
        target = Path(folder.strip()).expanduser().absolute()
        try:
            written = export_model(self.models.project, name, target)
        except (ExportError, KeyError, OSError, DocumentError) as exc:
            state.export_message = f"export failed: {exc}"
            self._changed(name)
            return None
        state.export_message = (
            f"exported the Python project to {target}: "
            + ", ".join(path.name for path in written)
            + " (python train.py --epochs N --device D)"
        )
        self._changed(name)
        self.models.log(f"exported {name} as a Python project to {target} ({len(written)} files)")
        return [str(path) for path in written]

    def spawn(self, coroutine: Any) -> None:
        """Run an action in the app, not in the page: closing the tab does not stop it."""
        asyncio.ensure_future(coroutine)
