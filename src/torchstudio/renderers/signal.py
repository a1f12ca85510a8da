"""Signal renderer: 1-D signals as line plots."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from PIL import Image

from torchstudio.modules import Renderer
from torchstudio.renderers._drawing import axis_view, figure_to_image, new_figure


class Signal(Renderer):
    """Render a 1-D signal (L) or a multi-channel signal (CxL) as line plots, one colour each.

    Args:
        line_width: width of the lines, in points.
        min_value: bottom of the value axis; None = signal minimum.
        max_value: top of the value axis; None = signal maximum.
        grid: draw a grid behind the lines.

    scale[0]/shift[0] zoom/pan the time axis (shift in samples); scale[1]/shift[1] zoom/pan
    the value axis. Long signals are drawn as their min/max envelope per pixel, which looks
    the same as every sample drawn but stays fast.
    """

    def __init__(
        self,
        line_width: float = 1.0,
        min_value: float | None = None,
        max_value: float | None = None,
        grid: bool = True,
    ) -> None:
        self.line_width = line_width
        self.min_value = min_value
        self.max_value = max_value
        self.grid = grid

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
        signal = np.asarray(tensor)
        if signal.ndim == 1:
            signal = signal[np.newaxis]
        if signal.ndim != 2 or signal.shape[1] == 0:
            raise ValueError(
                f"Expected a signal tensor of shape L or CxL, got shape {tuple(np.shape(tensor))}"
            )
        signal = signal.astype(np.float64)
        length = signal.shape[1]
        # Sample i sits at x = i; the full view spans the last sample too.
        low, high = axis_view(0, max(length - 1, 1), shift, scale, axis=0)
        first = max(int(math.floor(low)), 0)
        last = min(int(math.ceil(high)) + 1, length)

        figure = new_figure(size, dpi)
        axes = figure.add_subplot()
        for channel, values in enumerate(signal):
            xs, ys = _visible_points(values, first, last, max(int(size[0]), 1))
            axes.plot(xs, ys, linewidth=self.line_width, label=f"channel {channel}")
        axes.set_xlim(low, high)
        axes.set_ylim(*self._value_limits(signal, shift, scale))
        axes.grid(self.grid, alpha=0.3)
        if 1 < signal.shape[0] <= 8:
            axes.legend(loc="upper right", fontsize="small")
        if title:
            axes.set_title(title)
        return figure_to_image(figure, size)

    def _value_limits(
        self, signal: np.ndarray, shift: Sequence[float], scale: Sequence[float]
    ) -> tuple[float, float]:
        finite = signal[np.isfinite(signal)]
        low = self.min_value if self.min_value is not None else (finite.min() if finite.size else 0)
        high = (
            self.max_value if self.max_value is not None else (finite.max() if finite.size else 1)
        )
        low, high = float(low), float(high)
        if high <= low:
            low, high = low - 0.5, low + 0.5
        margin = (high - low) * 0.05  # keep peaks off the frame
        return axis_view(low - margin, high + margin, shift, scale, axis=1)


def _visible_points(
    values: np.ndarray, first: int, last: int, pixels: int
) -> tuple[np.ndarray, np.ndarray]:
    """Samples first..last-1, reduced to a min/max envelope when there are more than pixels."""
    if last <= first:
        return np.empty(0), np.empty(0)
    visible = values[first:last]
    if visible.size <= 2 * pixels:
        return np.arange(first, last), visible
    step = math.ceil(visible.size / pixels)
    starts = np.arange(0, visible.size, step)
    minima = np.minimum.reduceat(visible, starts)
    maxima = np.maximum.reduceat(visible, starts)
    xs = np.repeat(first + starts + step / 2, 2)
    ys = np.column_stack([minima, maxima]).ravel()
    return xs, ys
