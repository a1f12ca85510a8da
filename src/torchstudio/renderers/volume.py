"""Volume renderer: 3-D tensors as a grid of slices."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from PIL import Image

from torchstudio.modules import Renderer
from torchstudio.renderers._drawing import colormap_lut, normalize, to_rgba, view_image


class Volume(Renderer):
    """Render a volume, DxHxW or CxDxHxW (C = 1, 3 or 4), as a grid of slices or one slice.

    Args:
        slice_index: show only this slice (negative counts from the end); None = all slices.
        axis: the volume axis to slice along: 0 = depth, 1 = height, 2 = width.
        columns: slices per row of the grid; None = as square a grid as possible.
        colormap: matplotlib colormap for single-channel volumes.
        min_value: value shown as black; None = volume minimum (shared by all slices).
        max_value: value shown as white; None = volume maximum.

    Zoom and pan as with Bitmap: scale[0] zooms, shift[0], shift[1] pan in grid pixels.
    """

    def __init__(
        self,
        slice_index: int | None = None,
        axis: int = 0,
        columns: int | None = None,
        colormap: str = "gray",
        min_value: float | None = None,
        max_value: float | None = None,
    ) -> None:
        if axis not in (0, 1, 2):
            raise ValueError(f"axis must be 0 (depth), 1 (height) or 2 (width), got {axis}")
        colormap_lut(colormap)  # fail early on an unknown name
        self.slice_index = slice_index
        self.axis = axis
        self.columns = columns
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
        volume = np.asarray(tensor)
        if volume.ndim == 3:
            volume = volume[np.newaxis]
        if volume.ndim != 4 or volume.shape[0] not in (1, 3, 4) or 0 in volume.shape:
            raise ValueError(
                "Expected a volume tensor of shape DxHxW or CxDxHxW with 1, 3 or 4 channels, "
                f"got shape {tuple(np.shape(tensor))}"
            )
        # Normalise the whole volume at once so that slices are comparable.
        volume = normalize(volume, self.min_value, self.max_value)
        volume = np.moveaxis(volume, self.axis + 1, 1)  # slices along axis 1 (C, S, H, W)
        slices = volume.shape[1]
        if self.slice_index is not None:
            if not -slices <= self.slice_index < slices:
                raise ValueError(
                    f"slice_index {self.slice_index} is out of range for {slices} slices"
                )
            pixels = to_rgba(volume[:, self.slice_index], self.colormap, 0.0, 1.0)
        else:
            pixels = self._mosaic(volume)
        image, _ = view_image(pixels, size, shift, scale)
        return image

    def _mosaic(self, volume: np.ndarray) -> np.ndarray:
        """All slices side by side, row after row, one transparent pixel apart."""
        slices, height, width = volume.shape[1:]
        columns = self.columns or math.ceil(math.sqrt(slices))
        columns = max(1, min(columns, slices))
        rows = math.ceil(slices / columns)
        gap = 1
        mosaic = np.zeros(
            (rows * (height + gap) - gap, columns * (width + gap) - gap, 4), dtype=np.uint8
        )
        for index in range(slices):
            top = (index // columns) * (height + gap)
            left = (index % columns) * (width + gap)
            mosaic[top : top + height, left : left + width] = to_rgba(
                volume[:, index], self.colormap, 0.0, 1.0
            )
        return mosaic
