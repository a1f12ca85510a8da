"""Tensor rendering worker: draws tensors into images with a renderer module.

Messages:
- `render` {"code", "tensor", "size": [w, h], "dpi"?, "shift"?, "scale"?, "title"?,
  "labels"?, "input_tensors"?, "target_tensor"?} -> a PIL image of `size`.
  `code` is a chunk defining `renderer` (built-in module or user code); chunks are run
  once and their renderer kept, so browsing samples does not re-run them.
A renderer that fails answers `render:error` with the text for the user; the worker lives on.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Any

import numpy as np
from PIL import Image

from torchstudio.modules import Renderer, safe_exec
from torchstudio.worker import Handlers, UserError, WorkerContext, run_worker

MAX_CACHED_RENDERERS = 32
MAX_SIZE = 8192


class RenderError(UserError):
    """The renderer code or the render request cannot be used."""


class RendererCache:
    """Renderer objects by code hash, so that each chunk runs once."""

    def __init__(self) -> None:
        self._renderers: OrderedDict[str, Renderer] = OrderedDict()

    def get(self, code: str) -> Renderer:
        key = hashlib.sha256(code.encode()).hexdigest()
        if key in self._renderers:
            self._renderers.move_to_end(key)
            return self._renderers[key]
        result = safe_exec(code, description="renderer code")
        if not result.ok:
            raise RenderError(result.error)
        renderer = result.namespace.get("renderer")
        if renderer is None or not callable(getattr(renderer, "render", None)):
            raise RenderError("the renderer code must define `renderer`, an object with render()")
        self._renderers[key] = renderer
        if len(self._renderers) > MAX_CACHED_RENDERERS:
            self._renderers.popitem(last=False)
        return renderer


def _array(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def render_tensor(renderer: Renderer, request: dict[str, Any]) -> Image.Image:
    """Call the renderer with the request's settings and check what it returns."""
    width, height = (int(v) for v in request["size"])
    if not (0 < width <= MAX_SIZE and 0 < height <= MAX_SIZE):
        raise RenderError(
            f"render size must be between 1 and {MAX_SIZE} pixels, not {width}x{height}"
        )
    target = request.get("target_tensor")
    result = safe_exec(
        renderer.render,
        kwargs={
            "title": request.get("title", ""),
            "tensor": _array(request["tensor"]),
            "size": (width, height),
            "dpi": int(request.get("dpi", 100)),
            "shift": tuple(request.get("shift", (0, 0, 0, 0))),
            "scale": tuple(request.get("scale", (1, 1, 1, 1))),
            "input_tensors": [_array(t) for t in request.get("input_tensors") or []],
            "target_tensor": None if target is None else _array(target),
            "labels": list(request.get("labels") or []),
        },
        description="renderer code",
    )
    if not result.ok:
        raise RenderError(result.error)
    image = result.value
    if not isinstance(image, Image.Image):
        raise RenderError(f"the renderer returned {type(image).__name__}, expected a PIL image")
    if image.size != (width, height):
        image = image.resize((width, height))
    return image


class TensorRenderWorker:
    def __init__(self) -> None:
        self.renderers = RendererCache()
        self.handlers = Handlers()
        self.handlers.add("render", self.render)

    def render(self, value: dict[str, Any], ctx: WorkerContext) -> Image.Image:
        return render_tensor(self.renderers.get(value["code"]), value)


def main() -> None:
    raise SystemExit(run_worker(TensorRenderWorker().handlers, "tensorrender"))


if __name__ == "__main__":
    main()
