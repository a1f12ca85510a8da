"""HTTP routes of the Model tabs: the graph as SVG and exported files as downloads."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import FastAPI, HTTPException, Query, Response
from nicegui import app as nicegui_app

from torchstudio.app.models.actions import OUTPUT_KINDS
from torchstudio.app.models.service import ModelError
from torchstudio.app.models.views import EXPORT_FORMATS
from torchstudio.app.runtime.manager import WorkerError
from torchstudio.app.store.names import file_name, inside
from torchstudio.app.studio import Studio
from torchstudio.app.web.routes import MAX_SIDE


def single_file_onnx(path: Path) -> None:
    """Fold an ONNX export's external weights file (`.onnx.data`) into the model file.

    A download is one file; models over 2 GB cannot be one ONNX file, so they keep the
    external file, which the save-to-path export writes next to the model.
    """
    import onnx

    external = [p for p in path.parent.iterdir() if p != path]
    if not external or sum(p.stat().st_size for p in external) > 1_900_000_000:
        return
    model = onnx.load(str(path))  # loads the external data too
    onnx.save_model(model, str(path), save_as_external_data=False)


def register_model_routes(studio: Studio, app: FastAPI = nicegui_app) -> None:
    """The Model tabs' routes on `app` (NiceGUI's, or a test's own FastAPI app)."""

    @app.get("/api/model/graph.svg")
    async def graph_svg(
        name: str, level: int = 1, opened: Annotated[list[str] | None, Query(alias="open")] = None
    ) -> Response:
        """The graph at `level`, with the module calls named by `open` opened in place."""
        if studio.views is None:
            raise HTTPException(404, "no project is open")
        try:
            svg = await studio.views.graph_svg(name, level, opened or ())
        except (ModelError, WorkerError) as exc:
            raise HTTPException(404, str(exc)) from exc
        return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": "no-store"})

    @app.get("/api/model/output/{kind}/{position}.png")
    async def output_image(
        kind: str, position: int, name: str, w: int = 160, h: int = 160
    ) -> Response:
        """The last prediction's input, output or target, drawn by the Dataset tab's renderer."""
        if studio.actions is None:
            raise HTTPException(404, "no project is open")
        if kind not in OUTPUT_KINDS:
            raise HTTPException(400, f"kind must be one of {', '.join(OUTPUT_KINDS)}, not {kind}")
        if not (0 < w <= MAX_SIDE and 0 < h <= MAX_SIDE):
            raise HTTPException(400, f"w and h must be between 1 and {MAX_SIDE} pixels")
        png = await studio.actions.output_image(name, kind, position, (w, h))
        # The URL names the prediction (its serial number): it never changes meaning.
        return Response(
            png, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"}
        )

    @app.get("/api/model/export")
    async def export(name: str, fmt: str) -> Response:
        """The model exported on this machine (wherever it trained), as a file download."""
        if studio.actions is None or studio.project is None:
            raise HTTPException(404, "no project is open")
        if fmt not in EXPORT_FORMATS:
            raise HTTPException(400, f"unknown format {fmt}")
        if name not in studio.project.model_names():
            raise HTTPException(404, f"the project has no model named {name!r}")
        filename = file_name(name, EXPORT_FORMATS[fmt])
        # The folder and all it holds (ONNX's external weights too) go once the bytes are read.
        with tempfile.TemporaryDirectory(prefix="torchstudio-export-") as folder:
            path = inside(Path(folder), filename)
            result = await studio.actions.export(name, fmt, str(path))
            if result is None:
                raise HTTPException(409, studio.actions.state(name).export_message)
            if fmt == "onnx":
                await asyncio.to_thread(single_file_onnx, path)
            data = path.read_bytes()
        return Response(
            data,
            media_type="application/octet-stream",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )
