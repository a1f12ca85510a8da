"""Metrics plotting worker: training curves of one or more models as an image and as series.

Messages:
- `plot` {"models": [{"name", "epochs": [{"epoch", "train_loss", "valid_loss",
  "train_metric", "valid_metric"}], "best_epoch"}], "size": [w, h], "dpi"?: 100,
  "log_scale"?: false, "which"?: "loss" | "metric" | "both"}
  -> {"image": PIL image of exactly `size`, "series": {"loss"?: chart, "metric"?: chart}},
  where a chart is an ECharts line-chart option (epochs on x, one series per model and
  split, the best epoch as a markPoint), JSON-safe: NaN and, on log scale, non-positive
  values become null (a gap).

Train curves are solid, validation curves dashed, one colour per model.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import matplotlib
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from PIL import Image

from torchstudio.renderers._drawing import figure_to_image, new_figure
from torchstudio.worker import Handlers, UserError, WorkerContext, run_worker

MAX_SIZE = 8192
QUANTITIES = {"loss": "Loss", "metric": "Metric"}
SPLITS = (("train", "solid", "-"), ("valid", "dashed", "--"))  # (split, ECharts, matplotlib)


VALUE_FORMATTER = "(v) => (v == null || isNaN(v)) ? '-' : Number(v).toPrecision(4)"
# What an empty chart says, in place of bare axes.
NO_EPOCHS = {
    "type": "text",
    "left": "center",
    "top": "middle",
    "style": {"text": "no epochs yet", "fontSize": 14, "fill": "#888"},
}


class PlotError(UserError):
    """The plot request cannot be used."""


def plot_size(value: Any) -> tuple[int, int]:
    """(width, height) from a request's "size", checked."""
    try:
        width, height = (int(v) for v in value)
    except (TypeError, ValueError):
        raise PlotError(f"size must be [width, height] in pixels, not {value!r}") from None
    if not (0 < width <= MAX_SIZE and 0 < height <= MAX_SIZE):
        raise PlotError(f"plot size must be between 1 and {MAX_SIZE} pixels, not {width}x{height}")
    return width, height


def finite(value: Any) -> float | None:
    """A float, or None for missing, non-numeric and non-finite values."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def model_colour(index: int) -> str:
    return matplotlib.colors.to_hex(matplotlib.colormaps["tab10"](index % 10))


def render(figure: Figure, size: tuple[int, int]) -> Image.Image:
    """The figure as an image of `size`; thumbnails too small for the axis labels are fine."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "constrained_layout not applied", UserWarning)
        return figure_to_image(figure, size)


def notice_image(text: str, size: tuple[int, int], dpi: int) -> Image.Image:
    """An image of `size` that only says `text` (nothing to plot yet)."""
    figure = new_figure(size, dpi)
    figure.text(0.5, 0.5, text, ha="center", va="center", color="#666666", fontsize=10)
    return render(figure, size)


def curve(model: dict[str, Any], key: str, log_scale: bool) -> list[tuple[int, float | None]]:
    """(epoch, value) pairs of one curve; None where there is nothing to draw."""
    points = []
    for row in model.get("epochs") or []:
        value = finite(row.get(key))
        if log_scale and value is not None and value <= 0:
            value = None  # a log axis cannot show it: leave a gap rather than fail
        points.append((int(row["epoch"]), value))
    return points


def best_point(model: dict[str, Any], quantity: str, log_scale: bool) -> tuple[int, float] | None:
    """The validation value (or train value when there is none) at the model's best epoch."""
    best = model.get("best_epoch")
    if best is None:
        return None
    for split in ("valid", "train"):
        for epoch, value in curve(model, f"{split}_{quantity}", log_scale):
            if epoch == best and value is not None:
                return epoch, value
    return None


def chart_option(models: list[dict[str, Any]], quantity: str, log_scale: bool) -> dict[str, Any]:
    """An ECharts option for one quantity (loss or metric) of every model."""
    series = []
    for index, model in enumerate(models):
        for split, style, _ in SPLITS:
            points = curve(model, f"{split}_{quantity}", log_scale)
            if all(value is None for _, value in points):
                continue
            entry: dict[str, Any] = {
                "name": f"{model['name']} {split}",
                "type": "line",
                "data": [[epoch, value] for epoch, value in points],
                "color": model_colour(index),
                "lineStyle": {"type": style},
                "showSymbol": False,
            }
            best = best_point(model, quantity, log_scale)
            if best is not None and split == "valid":
                entry["markPoint"] = {"data": [{"name": "best", "coord": list(best)}]}
            series.append(entry)
    option: dict[str, Any] = {
        "animation": False,  # redrawn every epoch: no transition to wait for or spend on
        # Title left, tools right, the legend under both: nothing overlaps at half a page.
        "title": {"text": QUANTITIES[quantity], "left": 0, "top": 0},
        "legend": {
            "data": [entry["name"] for entry in series],
            "top": 30,
            "left": "center",
            "type": "scroll",
        },
        "grid": {"top": 64, "left": 48, "right": 24, "bottom": 32},
        # The browser evaluates ':' keys as JavaScript (NiceGUI): values to 4 significant digits.
        "tooltip": {"trigger": "axis", ":valueFormatter": VALUE_FORMATTER},
        "toolbox": {
            "right": 0,
            "top": 0,
            "feature": {
                "dataZoom": {"yAxisIndex": "none", "title": {"zoom": "zoom", "back": "unzoom"}},
                "restore": {"title": "reset"},
                "saveAsImage": {"title": "save as PNG", "name": quantity},
            },
        },
        "dataZoom": [{"type": "inside", "filterMode": "none"}],
        "xAxis": {"type": "value", "name": "epoch", "minInterval": 1},
        "yAxis": {"type": "log" if log_scale else "value", "name": quantity, "scale": True},
        "series": series,
    }
    if not series:
        option["graphic"] = [NO_EPOCHS]
    return option


def _draw_quantity(
    axes: Axes, models: list[dict[str, Any]], quantity: str, log_scale: bool
) -> None:
    drawn = False
    for index, model in enumerate(models):
        colour = model_colour(index)
        for split, _, linestyle in SPLITS:
            points = curve(model, f"{split}_{quantity}", log_scale)
            if any(value is not None for _, value in points):
                epochs = [epoch for epoch, _ in points]
                values = [math.nan if value is None else value for _, value in points]
                # A lone epoch would be an invisible line: give it a marker.
                marker = "o" if sum(v is not None for _, v in points) == 1 else None
                axes.plot(epochs, values, linestyle, color=colour, marker=marker, linewidth=1.5)
                drawn = True
        best = best_point(model, quantity, log_scale)
        if best is not None:
            axes.plot(*best, "*", color=colour, markersize=11, markeredgecolor="black", zorder=5)
    axes.set_title(QUANTITIES[quantity], fontsize=10)
    axes.set_xlabel("epoch", fontsize=8)
    axes.xaxis.get_major_locator().set_params(integer=True)
    axes.grid(True, alpha=0.3)
    if not drawn:
        axes.text(
            0.5,
            0.5,
            f"no {quantity} values",
            transform=axes.transAxes,
            ha="center",
            color="#666666",
        )
        return
    if log_scale:
        axes.set_yscale("log")
    axes.tick_params(which="both", labelsize=7)  # after the scale: log axes add minor labels


def _legend(axes: Axes, models: list[dict[str, Any]]) -> None:
    handles = [Line2D([], [], color=model_colour(i), linewidth=2) for i in range(len(models))]
    labels = [str(model["name"]) for model in models]
    handles += [Line2D([], [], color="#555555", linestyle=style) for _, _, style in SPLITS]
    labels += [split for split, _, _ in SPLITS]
    handles.append(Line2D([], [], color="#555555", marker="*", linestyle="", markersize=9))
    labels.append("best epoch")
    axes.legend(handles, labels, fontsize=7, loc="best", framealpha=0.8)


def check_models(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(m, dict) for m in value):
        raise PlotError('"models" must be a list of {"name", "epochs", "best_epoch"}')
    models = []
    for index, model in enumerate(value):
        epochs = model.get("epochs") or []
        if not isinstance(epochs, list) or not all(
            isinstance(r, dict) and "epoch" in r for r in epochs
        ):
            raise PlotError(f'model {index}: "epochs" must be a list of dicts with an "epoch"')
        models.append({**model, "name": str(model.get("name", f"model {index + 1}"))})
    return models


def plot_metrics(request: dict[str, Any]) -> dict[str, Any]:
    """The `plot` message: the image and the ECharts series of the requested curves.

    `"image": False` in the request leaves the image out (drawing it is most of the work).
    """
    size = plot_size(request.get("size"))
    dpi = int(request.get("dpi") or 100)
    log_scale = bool(request.get("log_scale", False))
    which = request.get("which") or "both"
    if which not in ("loss", "metric", "both"):
        raise PlotError(f'which must be "loss", "metric" or "both", not {which!r}')
    quantities = ["loss", "metric"] if which == "both" else [which]
    models = check_models(request.get("models", []))
    series = {quantity: chart_option(models, quantity, log_scale) for quantity in quantities}
    if request.get("image") is False:  # a page drawing the series itself needs no image
        return {"series": series}
    if not any(model.get("epochs") for model in models):
        return {"image": notice_image("No epochs yet", size, dpi), "series": series}
    figure = new_figure(size, dpi)
    # Side by side in a wide image, stacked in a tall one.
    rows, columns = (1, len(quantities)) if size[0] >= size[1] else (len(quantities), 1)
    all_axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for axes, quantity in zip(all_axes, quantities, strict=True):
        _draw_quantity(axes, models, quantity, log_scale)
    _legend(all_axes[0], models)
    return {"image": render(figure, size), "series": series}


handlers = Handlers()


@handlers.on("plot")
def plot(value: dict[str, Any], ctx: WorkerContext) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PlotError('plot expects {"models": [...], "size": [w, h], ...}')
    return plot_metrics(value)


def main() -> None:
    raise SystemExit(run_worker(handlers, "metricsplot"))


if __name__ == "__main__":
    main()
