"""Drawing helpers shared by the renderers (and the analyzers' reports).

Pure numpy/PIL/matplotlib functions: colormaps, value normalisation, the pan/zoom view of a
bitmap, and matplotlib figures rendered off-screen at an exact pixel size.

View convention used by every renderer: `scale` is a zoom factor (1 shows the whole tensor,
2 shows half of it twice as large; values <= 0 mean 1) and `shift` moves the centre of the
view, in tensor units (pixels for bitmaps, samples for signals, classes for labels).
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

__all__ = [
    "axis_view",
    "colormap_lut",
    "figure_to_image",
    "new_figure",
    "normalize",
    "pan_offset",
    "pan_zoom",
    "to_rgba",
    "view_image",
    "zoom_factor",
]


def zoom_factor(scale: Sequence[float], axis: int = 0) -> float:
    """The zoom of one axis; missing or non-positive values mean no zoom."""
    value = float(scale[axis]) if len(scale) > axis else 1.0
    return value if value > 0 else 1.0


def pan_offset(shift: Sequence[float], axis: int = 0) -> float:
    return float(shift[axis]) if len(shift) > axis else 0.0


def axis_view(
    start: float, stop: float, shift: Sequence[float], scale: Sequence[float], axis: int = 0
) -> tuple[float, float]:
    """Visible (low, high) of an axis spanning start..stop, after pan and zoom."""
    zoom = zoom_factor(scale, axis)
    centre = (start + stop) / 2 + pan_offset(shift, axis)
    half = (stop - start) / (2 * zoom)
    return centre - half, centre + half


def colormap_lut(name: str) -> np.ndarray:
    """A 256x4 uint8 lookup table of a matplotlib colormap (ValueError for unknown names)."""
    try:
        colormap = matplotlib.colormaps[name]
    except KeyError:
        raise ValueError(
            f"Unknown colormap '{name}'; use a matplotlib colormap name such as 'gray' or 'viridis'"
        ) from None
    return (colormap(np.linspace(0.0, 1.0, 256)) * 255).round().astype(np.uint8)


def normalize(
    values: np.ndarray, min_value: float | None = None, max_value: float | None = None
) -> np.ndarray:
    """Map values to [0, 1] (float32); a missing bound is the values' own finite min or max.

    A constant tensor maps to 0.5, so it reads as "flat" rather than as black; NaNs map to 0.
    """
    values = np.asarray(values)
    if values.dtype == np.bool_:
        values = values.astype(np.float32)
    values = values.astype(np.float64, copy=False)
    finite = values[np.isfinite(values)]
    low = float(finite.min()) if min_value is None and finite.size else min_value
    high = float(finite.max()) if max_value is None and finite.size else max_value
    low = 0.0 if low is None else float(low)
    high = 1.0 if high is None else float(high)
    if high <= low:
        low, high = low - 0.5, low + 0.5
    scaled = (values - low) / (high - low)
    return np.nan_to_num(np.clip(scaled, 0.0, 1.0), nan=0.0).astype(np.float32)


def to_rgba(
    tensor: np.ndarray,
    colormap: str = "gray",
    min_value: float | None = None,
    max_value: float | None = None,
) -> np.ndarray:
    """HxWx4 uint8 pixels from an HW or CHW (C = 1, 3 or 4) tensor.

    One channel goes through the colormap; three or four channels are RGB(A) and are
    normalised together so that their colours keep their proportions.
    """
    tensor = np.asarray(tensor)
    if tensor.ndim == 3 and tensor.shape[0] == 1:
        tensor = tensor[0]
    if tensor.ndim == 2:
        indices = (normalize(tensor, min_value, max_value) * 255).round().astype(np.uint8)
        return colormap_lut(colormap)[indices]
    if tensor.ndim == 3 and tensor.shape[0] in (3, 4):
        channels = (normalize(tensor, min_value, max_value) * 255).round().astype(np.uint8)
        pixels = np.moveaxis(channels, 0, -1)
        if pixels.shape[-1] == 3:
            opaque = np.full(pixels.shape[:2] + (1,), 255, dtype=np.uint8)
            pixels = np.concatenate([pixels, opaque], axis=-1)
        return np.ascontiguousarray(pixels)
    raise ValueError(
        f"Expected an image tensor of shape HxW or CxHxW with 1, 3 or 4 channels, "
        f"got shape {tuple(tensor.shape)}"
    )


def pan_zoom(
    source_size: tuple[int, int],
    size: tuple[int, int],
    shift: Sequence[float],
    scale: Sequence[float],
) -> tuple[float, float, float]:
    """(factor, origin_x, origin_y): output pixel = (source coordinate - origin) * factor.

    At zoom 1 the whole source fits the output (aspect ratio kept, centred); the uniform
    zoom is scale[0] and the pan is (shift[0], shift[1]) in source pixels.
    """
    source_width, source_height = source_size
    width, height = size
    factor = min(width / source_width, height / source_height) * zoom_factor(scale, 0)
    centre_x = source_width / 2 + pan_offset(shift, 0)
    centre_y = source_height / 2 + pan_offset(shift, 1)
    return factor, centre_x - width / (2 * factor), centre_y - height / (2 * factor)


def view_image(
    pixels: np.ndarray,
    size: tuple[int, int],
    shift: Sequence[float] = (0, 0),
    scale: Sequence[float] = (1, 1),
) -> tuple[Image.Image, tuple[float, float, float]]:
    """Resample HxWx4 pixels into an RGBA image of `size` after pan/zoom.

    Nearest-neighbour sampling keeps enlarged pixels crisp; outside the source the image is
    transparent. Returns the image and the `pan_zoom` transform, to draw over it.
    """
    height, width = pixels.shape[:2]
    transform = pan_zoom((width, height), size, shift, scale)
    factor, origin_x, origin_y = transform
    out_width, out_height = size
    # Source coordinate of the centre of every output pixel, per axis.
    columns = np.floor(origin_x + (np.arange(out_width) + 0.5) / factor).astype(np.int64)
    rows = np.floor(origin_y + (np.arange(out_height) + 0.5) / factor).astype(np.int64)
    valid_columns = (columns >= 0) & (columns < width)
    valid_rows = (rows >= 0) & (rows < height)
    out = np.zeros((out_height, out_width, 4), dtype=np.uint8)
    out[np.ix_(valid_rows, valid_columns)] = pixels[
        np.ix_(rows[valid_rows], columns[valid_columns])
    ]
    return Image.fromarray(out, "RGBA"), transform


def new_figure(size: tuple[int, int], dpi: int) -> Figure:
    """A matplotlib figure of `size` pixels with its own Agg canvas (no pyplot global state)."""
    width, height = size
    figure = Figure(figsize=(width / dpi, height / dpi), dpi=dpi, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def figure_to_image(figure: Figure, size: tuple[int, int]) -> Image.Image:
    """Draw the figure and return it as an RGBA image of exactly `size` pixels."""
    canvas = figure.canvas
    canvas.draw()
    image = Image.fromarray(np.array(canvas.buffer_rgba()), "RGBA")
    size = (int(size[0]), int(size[1]))
    # Float figure sizes can round one pixel off the request.
    if image.size != size:
        image = image.resize(size, Image.Resampling.BILINEAR)
    return image
