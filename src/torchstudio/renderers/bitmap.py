"""Bitmap renderer: images as pixels."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from torchstudio.modules import Renderer
from torchstudio.renderers._drawing import colormap_lut, to_rgba, view_image


class Bitmap(Renderer):
    """Render an image tensor: HxW, or CxHxW with 1 (grayscale), 3 (RGB) or 4 (RGBA) channels.

    Args:
        colormap: matplotlib colormap applied to single-channel images ('gray', 'viridis'...).
        min_value: value shown as black (or the colormap's first colour); None = tensor minimum.
        max_value: value shown as white (or the colormap's last colour); None = tensor maximum.

    Zoom with scale[0] (1 fits the whole image), pan with shift[0], shift[1] in image pixels.
    Enlarged pixels stay crisp squares (nearest-neighbour); outside the image is transparent.
    """

    def __init__(
        self,
        colormap: str = "gray",
        min_value: float | None = None,
        max_value: float | None = None,
    ) -> None:
        colormap_lut(colormap)  # fail early on an unknown name
        self.colormap = colormap
        self.min_value = min_value
        self.max_value = max_value

    def render(
        self,
        title: str,
        tensor: np.ndarray,
        size: tuple[int, int],
        dpi: int = 100,
        shift: Sequence[float] = (0, 0, 0, 0),
        scale: Sequence[float] = (1, 1, 1, 1),
        input_tensors: Sequence[np.ndarray] = (),
        target_tensor: np.ndarray | None = None,
        labels: Sequence[str] = (),
    ) -> Image.Image:
        pixels = to_rgba(tensor, self.colormap, self.min_value, self.max_value)
        image, _ = view_image(pixels, size, shift, scale)
        return image
