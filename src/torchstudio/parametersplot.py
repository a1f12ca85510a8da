"""Parameters plotting worker: models compared on a parallel-coordinates plot.

Messages:
- `plot` {"models": [{"name", "parameters": {"lr": 0.001, "optimizer": "Adam", ...},
  "metrics": {"best valid_metric": 0.93, ...}}], "size": [w, h], "dpi"?: 100}
  -> {"image": PIL image of exactly `size`, "models": [names], "axes": [axis, ...]}.

One vertical axis per parameter, then per metric. An axis is numeric ("value", or "log"
when its positive values span more than two decades) or categorical (strings, booleans,
mixes), as {"name", "group": "parameter" | "metric", "type": "value" | "log" | "category",
"min", "max", "categories", "values": [one per model, null if missing],
"positions": [0..1 height on the axis, null if missing]} (JSON-safe, ECharts-like).
One line per model, coloured by the first metric; a missing value is bridged dotted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.ticker import LogLocator, MaxNLocator

from torchstudio.metricsplot import PlotError, model_colour, notice_image, plot_size, render
from torchstudio.renderers._drawing import new_figure
from torchstudio.worker import Handlers, WorkerContext, run_worker

LOG_SPAN = 100.0  # more than two decades between the smallest and largest value: log axis
MISSING_COLOUR = "#9a9a9a"


@dataclass
class Axis:
    name: str
    group: str
    type: str  # "value", "log" or "category"
    values: list[Any]  # one per model, None when missing
    low: float = 0.0
    high: float = 1.0
    categories: list[str] = field(default_factory=list)

    def position(self, value: Any) -> float | None:
        """Height of a value on this axis, 0 at the bottom, 1 at the top."""
        if value is None:
            return None
        if self.type == "category":
            index = self.categories.index(_category(value))
            return 0.5 if len(self.categories) == 1 else index / (len(self.categories) - 1)
        low, high, number = self.low, self.high, float(value)
        if self.type == "log":
            low, high, number = math.log10(low), math.log10(high), math.log10(number)
        return (number - low) / (high - low)

    def as_dict(self) -> dict[str, Any]:
        numeric = self.type != "category"
        return {
            "name": self.name,
            "group": self.group,
            "type": self.type,
            "min": self.low if numeric else None,
            "max": self.high if numeric else None,
            "categories": self.categories,
            "values": self.values,
            "positions": [self.position(v) for v in self.values],
        }


def _category(value: Any) -> str:
    return str(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)
    )


def _missing(value: Any) -> bool:
    return value is None or (_is_number(value) and not math.isfinite(value))


def make_axis(name: str, group: str, raw: list[Any]) -> Axis:
    """An axis for one parameter or metric from the models' values (None when missing)."""
    # NaN counts as missing; any non-numeric value makes the whole axis categorical.
    values = [None if _missing(v) else _json_safe(v) for v in raw]
    present = [v for v in values if v is not None]
    if present and all(_is_number(v) for v in present):
        low, high = float(min(present)), float(max(present))
        kind = "log" if low > 0 and high / low > LOG_SPAN else "value"
        if high == low:  # one value: centre it on an axis of some height
            pad = abs(low) * 0.1 or 0.5
            low, high = (low / 2, high * 2) if kind == "log" else (low - pad, high + pad)
        return Axis(name, group, kind, values, low, high)
    categories: list[str] = []
    for value in present:
        if _category(value) not in categories:
            categories.append(_category(value))
    return Axis(name, group, "category", values, categories=categories)


def _json_safe(value: Any) -> Any:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if _is_number(value):
        return float(value) if isinstance(value, (float, np.floating)) else int(value)
    if isinstance(value, (str, int)):
        return value
    return str(value)  # lists, None-like objects...: shown as their text


def build_axes(models: list[dict[str, Any]]) -> list[Axis]:
    """Parameters then metrics, each in the order they first appear among the models."""
    axes = []
    for group, key in (("parameter", "parameters"), ("metric", "metrics")):
        names: list[str] = []
        for model in models:
            names += [str(n) for n in (model.get(key) or {}) if str(n) not in names]
        for name in names:
            raw = [{str(k): v for k, v in (m.get(key) or {}).items()}.get(name) for m in models]
            axes.append(make_axis(name, group, raw))
    return axes


def model_colours(models: list[dict[str, Any]], axes: list[Axis]) -> list[str]:
    """Colours by the first metric (viridis, best at the top); by model without metrics."""
    metric = next((axis for axis in axes if axis.group == "metric"), None)
    if metric is None:
        return [model_colour(i) for i in range(len(models))]
    colormap = matplotlib.colormaps["viridis"]
    colours = []
    for value in metric.values:
        position = metric.position(value)
        colours.append(
            MISSING_COLOUR if position is None else matplotlib.colors.to_hex(colormap(position))
        )
    return colours


def _ticks(axis: Axis) -> list[tuple[float, str]]:
    """(position, label) pairs to write along an axis."""
    if axis.type == "category":
        return [(axis.position(c), c) for c in axis.categories]
    if axis.type == "log":
        found = LogLocator(numticks=6).tick_values(axis.low, axis.high)
    else:
        found = MaxNLocator(5).tick_values(axis.low, axis.high)
    ticks = [v for v in found if axis.low - 1e-12 <= v <= axis.high + 1e-12]
    return [(axis.position(v), f"{v:.3g}") for v in ticks]


def _draw(axes: Axes, names: list[str], columns: list[Axis], colours: list[str]) -> None:
    count = len(columns)
    for i, column in enumerate(columns):
        axes.axvline(i, color="#444444", linewidth=1, zorder=1)
        for position, label in _ticks(column):
            axes.plot([i - 0.02, i], [position, position], color="#444444", linewidth=1)
            axes.text(
                i + 0.03,
                position,
                label,
                fontsize=7,
                va="center",
                zorder=4,
                bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.6, "pad": 0.5},
            )
        title = column.name + (" (log)" if column.type == "log" else "")
        weight = "bold" if column.group == "metric" else "normal"
        axes.text(i, 1.04, title, fontsize=8, ha="center", va="bottom", fontweight=weight)
    for model, colour in enumerate(colours):
        points = [(i, c.position(c.values[model])) for i, c in enumerate(columns)]
        points = [(x, y) for x, y in points if y is not None]
        for (x0, y0), (x1, y1) in zip(points, points[1:], strict=False):
            style = "-" if x1 == x0 + 1 else ":"  # dotted across a missing value
            axes.plot([x0, x1], [y0, y1], style, color=colour, linewidth=2, alpha=0.85, zorder=2)
        if points:
            xs, ys = zip(*points, strict=True)
            axes.plot(xs, ys, "o", color=colour, markersize=4, zorder=3)
    axes.set_xlim(-0.25, count - 1 + 0.6)
    axes.set_ylim(-0.05, 1.12)
    axes.axis("off")
    handles = [Line2D([], [], color=colour, linewidth=2) for colour in colours]
    axes.legend(handles, names, fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))


def plot_parameters(request: dict[str, Any]) -> dict[str, Any]:
    """The `plot` message: the parallel-coordinates image and its axes.

    `"image": False` in the request leaves the image out.
    """
    size = plot_size(request.get("size"))
    dpi = int(request.get("dpi") or 100)
    models = request.get("models", [])
    if not isinstance(models, list) or not all(isinstance(m, dict) for m in models):
        raise PlotError('"models" must be a list of {"name", "parameters", "metrics"}')
    names = [str(m.get("name", f"model {i + 1}")) for i, m in enumerate(models)]
    columns = build_axes(models)
    result = {"models": names, "axes": [column.as_dict() for column in columns]}
    if request.get("image") is False:  # a page drawing the axes itself needs no image
        return result
    if not models or not columns:
        text = "No models to compare" if not models else "No parameters or metrics to compare"
        return {"image": notice_image(text, size, dpi), **result}
    figure = new_figure(size, dpi)
    _draw(figure.add_subplot(), names, columns, model_colours(models, columns))
    return {"image": render(figure, size), **result}


handlers = Handlers()


@handlers.on("plot")
def plot(value: dict[str, Any], ctx: WorkerContext) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PlotError('plot expects {"models": [...], "size": [w, h], "dpi"?: 100}')
    return plot_parameters(value)


def main() -> None:
    raise SystemExit(run_worker(handlers, "parametersplot"))


if __name__ == "__main__":
    main()
