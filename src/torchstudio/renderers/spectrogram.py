"""Spectrogram renderer: frequency x time maps."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from torchstudio.modules import Renderer
from torchstudio.renderers._drawing import axis_view, colormap_lut, figure_to_image, new_figure


class Spectrogram(Renderer):
    """Render a spectrogram: FxT (frequency bins x time frames) or CxFxT, complex or real.

    Complex values are shown by their magnitude; real values are taken as magnitudes (or
    powers, with `power`). Low frequencies are at the bottom.

    Args:
        log_scale: show decibels relative to the largest value instead of linear magnitudes.
        dynamic_range_db: in log scale, how many dB below the maximum are still visible.
        power: the values are powers (10*log10) rather than magnitudes (20*log10).
        colormap: matplotlib colormap name.

    scale[0]/shift[0] zoom/pan the time axis (in frames), scale[1]/shift[1] the frequency
    axis (in bins). Several channels are drawn one above the other.
    """

    def __init__(
        self,
        log_scale: bool = True,
        dynamic_range_db: float = 80.0,
        power: bool = False,
        colormap: str = "magma",
    ) -> None:
        colormap_lut(colormap)  # fail early on an unknown name
        self.log_scale = log_scale
        self.dynamic_range_db = dynamic_range_db
        self.power = power
        self.colormap = colormap

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
        values = np.asarray(tensor)
        if values.ndim == 2:
            values = values[np.newaxis]
        if values.ndim != 3 or 0 in values.shape:
            raise ValueError(
                "Expected a spectrogram tensor of shape FxT or CxFxT, "
                f"got shape {tuple(np.shape(tensor))}"
            )
        magnitudes = np.abs(values).astype(np.float64)
        shown, unit = self._displayed_values(magnitudes)
        channels, bins, frames = shown.shape

        figure = new_figure(size, dpi)
        axes_list = figure.subplots(channels, 1, squeeze=False)[:, 0]
        time_view = axis_view(-0.5, frames - 0.5, shift, scale, axis=0)
        frequency_view = axis_view(-0.5, bins - 0.5, shift, scale, axis=1)
        low, high = np.nanmin(shown), np.nanmax(shown)
        for channel, axes in enumerate(axes_list):
            picture = axes.imshow(
                shown[channel],
                origin="lower",
                aspect="auto",
                interpolation="nearest",
                cmap=self.colormap,
                vmin=low,
                vmax=high if high > low else low + 1,
                extent=(-0.5, frames - 0.5, -0.5, bins - 0.5),
            )
            axes.set_xlim(*time_view)
            axes.set_ylim(*frequency_view)
            axes.set_ylabel("frequency bin")
        axes_list[-1].set_xlabel("time frame")
        figure.colorbar(picture, ax=list(axes_list), label=unit)
        if title:
            axes_list[0].set_title(title)
        return figure_to_image(figure, size)

    def _displayed_values(self, magnitudes: np.ndarray) -> tuple[np.ndarray, str]:
        if not self.log_scale:
            return magnitudes, "power" if self.power else "magnitude"
        reference = magnitudes.max() if magnitudes.size and magnitudes.max() > 0 else 1.0
        factor = 10.0 if self.power else 20.0
        # The floor avoids log(0) and clips what lies below the dynamic range.
        floor = reference * 10 ** (-self.dynamic_range_db / factor)
        decibels = factor * np.log10(np.maximum(magnitudes, floor) / reference)
        return decibels, "dB"
