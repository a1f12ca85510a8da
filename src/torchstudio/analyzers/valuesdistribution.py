"""ValuesDistribution analyzer: statistics and histograms of every tensor of the samples."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from torchstudio.modules import Analyzer
from torchstudio.renderers._drawing import figure_to_image, new_figure


class TensorStatistics:
    """Running count, min, max, mean, std and histogram of the values of one tensor.

    Mean and variance are merged sample by sample with Chan's parallel update of Welford's
    algorithm, in float64. The histogram is exact in a single pass, without storing values:
    it keeps `bins` equal bins of a power-of-two width from `low`, fitted to the first
    sample; when a value falls outside, the width doubles (adjacent bins merge in pairs) and
    the range grows towards that value until every value fits. So the result equals a
    histogram of all values over the final range, which is at most about eight times the
    values' span (the report trims empty bins). Non-finite values are only counted.
    """

    def __init__(self, bins: int = 64) -> None:
        self.bins = bins + bins % 2  # pairs of bins merge, so the count must be even
        self.count = 0
        self.mean = 0.0
        self.m2 = 0.0  # sum of squared deviations from the mean
        self.minimum = math.inf
        self.maximum = -math.inf
        self.non_finite = 0
        self.low: float | None = None
        self.width = 0.0
        self.histogram = np.zeros(self.bins, dtype=np.int64)

    @property
    def std(self) -> float:
        """Population standard deviation (ddof=0)."""
        return math.sqrt(self.m2 / self.count) if self.count else 0.0

    def add(self, values: np.ndarray) -> None:
        flat = np.asarray(values, dtype=np.float64).reshape(-1)
        finite = flat[np.isfinite(flat)]
        self.non_finite += flat.size - finite.size
        if finite.size == 0:
            return
        count, mean = finite.size, float(finite.mean())
        m2 = float(np.square(finite - mean).sum())
        total = self.count + count
        delta = mean - self.mean
        self.mean += delta * count / total
        self.m2 += m2 + delta * delta * self.count * count / total
        self.count = total
        low, high = float(finite.min()), float(finite.max())
        self.minimum = min(self.minimum, low)
        self.maximum = max(self.maximum, high)
        self._cover(low, high)
        indices = np.floor((finite - self.low) / self.width).astype(np.int64)
        # Rounding can put a value sitting on an outer edge one bin off.
        np.clip(indices, 0, self.bins - 1, out=indices)
        self.histogram += np.bincount(indices, minlength=self.bins)

    def edges(self) -> np.ndarray:
        low = 0.0 if self.low is None else self.low
        return low + self.width * np.arange(self.bins + 1)

    def _cover(self, low: float, high: float) -> None:
        """Grow the histogram range until it holds [low, high] (upper edge excluded)."""
        if self.low is None:
            span = high - low
            wanted = span / self.bins if span > 0 else (abs(low) or 1.0) * 2.0**-20
            # Power-of-two widths and aligned edges are exact in floating point and stay
            # exact when merged, so values on an edge always land in the bin above it.
            self.width = 2.0 ** math.ceil(math.log2(wanted))
            self.low = math.floor(low / self.width) * self.width
        while high >= self.low + self.bins * self.width:
            merged = self.histogram.reshape(-1, 2).sum(axis=1)
            self.histogram = np.concatenate([merged, np.zeros_like(merged)])
            self.width *= 2
        while low < self.low:
            merged = self.histogram.reshape(-1, 2).sum(axis=1)
            self.histogram = np.concatenate([np.zeros_like(merged), merged])
            self.low -= self.bins * self.width
            self.width *= 2

    def state_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "mean": self.mean,
            "m2": self.m2,
            "min": self.minimum if self.count else None,
            "max": self.maximum if self.count else None,
            "non_finite": self.non_finite,
            "low": self.low,
            "width": self.width,
            "histogram": self.histogram.tolist(),
        }

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> TensorStatistics:
        histogram = np.asarray(state["histogram"], dtype=np.int64)
        statistics = cls(histogram.size)
        statistics.count = int(state["count"])
        statistics.mean = float(state["mean"])
        statistics.m2 = float(state["m2"])
        statistics.minimum = math.inf if state["min"] is None else float(state["min"])
        statistics.maximum = -math.inf if state["max"] is None else float(state["max"])
        statistics.non_finite = int(state["non_finite"])
        statistics.low = None if state["low"] is None else float(state["low"])
        statistics.width = float(state["width"])
        statistics.histogram = histogram
        return statistics


class ValuesDistribution(Analyzer):
    """Min, max, mean, std and a histogram of the values of every tensor of the samples.

    Computed in one pass (see `TensorStatistics`), over both splits unless `training_only`.
    The report draws one histogram per tensor, trimmed to the bins that hold values.
    `weights` stays empty.

    Args:
        bins: number of histogram bins (rounded up to an even number).
        training_only: ignore validation samples.
    """

    def __init__(self, bins: int = 64, training_only: bool = False) -> None:
        super().__init__()
        if bins < 2:
            raise ValueError(f"bins must be at least 2, got {bins}")
        self.bins = bins
        self.training_only = training_only
        self.input_tensors_id: list[int] = []
        self.output_tensors_id: list[int] = []
        self.names: list[str] = []
        self.statistics: list[TensorStatistics] = []

    def start_analysis(
        self,
        num_training_samples: int,
        num_validation_samples: int,
        input_tensors_id: Sequence[int],
        output_tensors_id: Sequence[int],
        labels: Sequence[str],
    ) -> None:
        self.input_tensors_id = list(input_tensors_id)
        self.output_tensors_id = list(output_tensors_id)
        self.names = []
        self.statistics = []
        self.weights = []

    def analyze_sample(self, sample: Sequence[np.ndarray], training_sample: bool) -> None:
        if self.training_only and not training_sample:
            return
        while len(self.statistics) < len(sample):
            self.names.append(self._tensor_name(len(self.statistics)))
            self.statistics.append(TensorStatistics(self.bins))
        for statistics, tensor in zip(self.statistics, sample, strict=False):
            statistics.add(tensor)

    def finish_analysis(self) -> None:
        """Nothing to derive: the statistics are up to date after every sample."""

    def _tensor_name(self, index: int) -> str:
        for role, ids in (("input", self.input_tensors_id), ("output", self.output_tensors_id)):
            if index in ids:
                return f"{role} {ids.index(index)} (tensor {index})"
        return f"tensor {index}"

    def generate_report(self, size: tuple[int, int], dpi: int) -> Image.Image:
        figure = new_figure(size, dpi)
        count = max(len(self.statistics), 1)
        columns = math.ceil(math.sqrt(count))
        rows = math.ceil(count / columns)
        axes_grid = figure.subplots(rows, columns, squeeze=False).reshape(-1)
        for axes in axes_grid[len(self.statistics) :]:
            axes.set_axis_off()
        for axes, name, statistics in zip(axes_grid, self.names, self.statistics, strict=False):
            axes.set_title(
                f"{name}\nmin {statistics.minimum:.3g}  max {statistics.maximum:.3g}\n"
                f"mean {statistics.mean:.3g}  std {statistics.std:.3g}",
                fontsize="small",
            )
            filled = np.flatnonzero(statistics.histogram)
            if filled.size == 0:
                axes.text(0.5, 0.5, "no finite values", ha="center", transform=axes.transAxes)
                continue
            first, last = filled[0], filled[-1] + 1
            edges = statistics.edges()[first : last + 1]
            axes.stairs(statistics.histogram[first:last], edges, fill=True, color="tab:blue")
            axes.tick_params(labelsize="x-small")
        if not self.statistics:
            axes_grid[0].text(0.5, 0.5, "no samples", ha="center", transform=axes_grid[0].transAxes)
        return figure_to_image(figure, size)

    def summary(self) -> list[dict[str, float | int | str]]:
        """Per tensor: name, count, min, max, mean, std and non-finite count."""
        return [
            {
                "name": name,
                "count": s.count,
                "min": s.minimum,
                "max": s.maximum,
                "mean": s.mean,
                "std": s.std,
                "non_finite": s.non_finite,
            }
            for name, s in zip(self.names, self.statistics, strict=True)
        ]

    def state_dict(self) -> dict[str, Any]:
        return {
            "weights": list(self.weights),
            "names": list(self.names),
            "statistics": [s.state_dict() for s in self.statistics],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.names = [str(name) for name in state.get("names", [])]
        self.statistics = [TensorStatistics.from_state_dict(s) for s in state.get("statistics", [])]
