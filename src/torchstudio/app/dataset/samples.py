"""Sample images for the browser: a sample's tensors from `datasetload`, drawn by `tensorrender`.

Images are PNG bytes kept in a small LRU cache, keyed by everything that changes them, so
stepping back and forth, a second tab or a page reload costs nothing; the next samples are
rendered ahead so stepping forward is as quick.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import textwrap
from collections.abc import Awaitable, Callable
from typing import Any

from PIL import Image, ImageDraw

from torchstudio.app.lru import LRU
from torchstudio.app.runtime.manager import WorkerError, WorkerHandle

CACHE_IMAGES = 512
CACHE_SAMPLES = 64
GetWorker = Callable[[], Awaitable[WorkerHandle]]


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)  # speed over size: it goes to localhost
    return buffer.getvalue()


def error_image(text: str, size: tuple[int, int]) -> bytes:
    """An image showing an error text, so a failing renderer says why in its own panel."""
    width, height = max(size[0], 32), max(size[1], 32)
    image = Image.new("RGB", (width, height), (255, 240, 240))
    draw = ImageDraw.Draw(image)
    wrapped = "\n".join(textwrap.fill(line, max(width // 7, 10)) for line in text.splitlines())
    draw.multiline_text((6, 6), wrapped, fill=(160, 0, 0))
    return png_bytes(image)


class SampleImages:
    """Renders sample tensors to PNG through the workers, with caching and de-duplication."""

    def __init__(self, loader: GetWorker, renderer: GetWorker) -> None:
        self._loader = loader
        self._renderer = renderer
        self._samples = LRU(CACHE_SAMPLES)
        self._images = LRU(CACHE_IMAGES)
        # Renders ahead run one at a time and only while no image is being asked for:
        # a step's own images never queue behind a batch of guesses.
        self._asked = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._ahead = asyncio.Lock()

    def clear(self) -> None:
        self._samples.clear()
        self._images.clear()

    async def _sample(self, generation: int, split: str, index: int) -> list[Any]:
        key = (generation, split, index)
        future = self._samples.get(key)
        if future is None:  # the panels of one sample ask at once: fetch the sample once
            future = asyncio.ensure_future(self._fetch(split, index))
            self._samples.put(key, future)
        try:
            return await asyncio.shield(future)
        except Exception:
            self._samples.pop(key, None)
            raise

    async def _fetch(self, split: str, index: int) -> list[Any]:
        loader = await self._loader()
        return await loader.request("sample", {"split": split, "index": index})

    async def image(
        self,
        generation: int,
        split: str,
        index: int,
        tensor: int,
        code: str,
        size: tuple[int, int],
        labels: list[str],
    ) -> bytes:
        """The PNG of tensor `tensor` of a sample, drawn by renderer `code` at `size`."""
        key = _image_key(generation, split, index, tensor, code, size)
        self._asked += 1
        self._idle.clear()
        try:
            cached = self._images.get(key)
            if cached is None:
                cached = asyncio.ensure_future(
                    self._render(generation, split, index, tensor, code, size, labels)
                )
                self._images.put(key, cached)
            return await asyncio.shield(cached)
        except WorkerError as exc:  # not cached: the next try may work (a restarted worker)
            self._images.pop(key, None)
            return error_image(str(exc), size)
        finally:
            self._asked -= 1
            if not self._asked:
                self._idle.set()

    async def drawing(
        self,
        split: str,
        index: int,
        tensor: int,
        code: str,
        size: tuple[int, int],
        labels: list[str],
    ) -> bytes:
        """A new drawing of a sample (its dataset code run again: random augmentation drawn
        anew), rendered; neither the sample nor the image is cached."""
        try:
            arrays = await self._fetch(split, index)
            if not 0 <= tensor < len(arrays):
                return error_image(f"this sample has no tensor {tensor}", size)
            renderer = await self._renderer()
            image = await renderer.request(
                "render",
                {"code": code, "tensor": arrays[tensor], "size": list(size), "labels": labels},
            )
        except WorkerError as exc:
            return error_image(str(exc), size)
        return await asyncio.to_thread(png_bytes, image)

    async def render_ahead(
        self,
        generation: int,
        split: str,
        index: int,
        tensor: int,
        code: str,
        size: tuple[int, int],
        labels: list[str],
    ) -> None:
        """Render an image the user will probably ask for next, when nothing else is asked."""
        key = _image_key(generation, split, index, tensor, code, size)
        async with self._ahead:
            await self._idle.wait()
            if key in self._images:
                return
            future = asyncio.ensure_future(
                self._render(generation, split, index, tensor, code, size, labels)
            )
            self._images.put(key, future)
            try:
                await asyncio.shield(future)
            except WorkerError:
                self._images.pop(key, None)

    async def _render(
        self,
        generation: int,
        split: str,
        index: int,
        tensor: int,
        code: str,
        size: tuple[int, int],
        labels: list[str],
    ) -> bytes:
        arrays = await self._sample(generation, split, index)
        if not 0 <= tensor < len(arrays):
            return error_image(f"this sample has no tensor {tensor}", size)
        renderer = await self._renderer()
        image = await renderer.request(
            "render", {"code": code, "tensor": arrays[tensor], "size": list(size), "labels": labels}
        )
        return await asyncio.to_thread(png_bytes, image)


def _image_key(
    generation: int, split: str, index: int, tensor: int, code: str, size: tuple[int, int]
) -> tuple[Any, ...]:
    """What an image depends on: the loaded dataset, the sample, the renderer and the size."""
    return (generation, split, index, tensor, hashlib.sha1(code.encode()).hexdigest(), size)
