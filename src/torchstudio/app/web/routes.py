"""HTTP routes for images: rendered samples and the analysis report (never the WebSocket)."""

from __future__ import annotations

from fastapi import HTTPException, Response
from nicegui import app

from torchstudio.app.studio import Studio

MAX_SIDE = 4096


def register_routes(studio: Studio) -> None:
    @app.get("/api/dataset/sample/{split}/{index}/{tensor}.png")
    async def sample_image(
        split: str, index: int, tensor: int, w: int = 280, h: int = 280
    ) -> Response:
        dataset = studio.dataset
        if dataset is None:
            raise HTTPException(404, "no project is open")
        if split not in ("train", "valid") or not (0 < w <= MAX_SIDE and 0 < h <= MAX_SIDE):
            raise HTTPException(400, "bad split or size")
        if index < 0 or tensor < 0:  # Python would count them from the end
            raise HTTPException(400, "the sample and tensor numbers start at 0")
        png = await dataset.sample_image(split, index, tensor, (w, h))
        # The URL names the data generation, renderer and app run: it never changes meaning.
        return Response(
            png, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"}
        )

    @app.get("/api/dataset/draw/{split}/{index}/{tensor}/{draw}.png")
    async def sample_drawing(
        split: str, index: int, tensor: int, draw: int, w: int = 280, h: int = 280
    ) -> Response:
        """Drawing `draw` of a sample (augmentation preview): new at every request."""
        dataset = studio.dataset
        if dataset is None:
            raise HTTPException(404, "no project is open")
        if split not in ("train", "valid") or not (0 < w <= MAX_SIDE and 0 < h <= MAX_SIDE):
            raise HTTPException(400, "bad split or size")
        if index < 0 or tensor < 0 or draw < 0:
            raise HTTPException(400, "the sample, tensor and drawing numbers start at 0")
        png = await dataset.draw_image(split, index, tensor, (w, h))
        return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})

    @app.get("/api/dataset/analysis.png")
    async def analysis_report() -> Response:
        dataset = studio.dataset
        png = dataset.report_png() if dataset is not None else None
        if png is None:
            raise HTTPException(404, "no analysis report")
        return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})
