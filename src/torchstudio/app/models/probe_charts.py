"""ECharts options of the interpretation and the learning-rate finder, and the pictures of
a segmentation's masks. Pure functions."""

from __future__ import annotations

import base64
import io
import math
from typing import Any

import numpy as np
from PIL import Image

CELL_SAMPLES = 24  # samples drawn for a clicked confusion cell
# A colour per class of a mask (repeating past the tenth), and black for ignored pixels.
MASK_COLOURS = np.array(
    [(0, 0, 0), (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
     (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60)], dtype=np.uint8,
)  # fmt: skip
IGNORED_COLOUR = (64, 64, 64)


def mask_png(mask: list[list[int]]) -> str:
    """A class mask as a PNG data URL, a colour per class (class 0 black, ignored grey)."""
    indices = np.array(mask, dtype=np.int64)
    pixels = MASK_COLOURS[np.mod(indices, len(MASK_COLOURS))]
    pixels[indices < 0] = IGNORED_COLOUR
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def confusion_option(report: dict[str, Any], normalized: bool) -> dict[str, Any]:
    """A heatmap, target classes down, predicted across; a cell's value is [x, y, value]."""
    classes = report["classes"]
    matrix = report["normalized"] if normalized else report["confusion"]
    cells = [
        [predicted, target, round(value, 3) if normalized else value]
        for target, row in enumerate(matrix)
        for predicted, value in enumerate(row)
    ]
    top = 1.0 if normalized else max((c[2] for c in cells), default=1) or 1
    return {
        "animation": False,
        "tooltip": {"position": "top"},
        "grid": {"left": 70, "right": 20, "top": 10, "bottom": 80},
        "xAxis": {"type": "category", "data": classes, "name": "predicted",
                  "nameLocation": "middle", "nameGap": 30, "splitArea": {"show": True}},
        "yAxis": {"type": "category", "data": classes, "name": "target", "inverse": True,
                  "nameLocation": "middle", "nameGap": 50, "splitArea": {"show": True}},
        "visualMap": {"min": 0, "max": top, "calculable": False, "orient": "horizontal",
                      "left": "center", "bottom": 0, "itemHeight": 120},
        "series": [{"name": "confusion", "type": "heatmap", "data": cells,
                    "label": {"show": len(classes) <= 12}}],
    }  # fmt: skip


def scatter_option(report: dict[str, Any]) -> dict[str, Any]:
    """Predicted against target, with the line where they are equal."""
    predicted, target = report["points"]
    points = [[t, p] for p, t in zip(predicted, target, strict=True)]
    values = predicted + target
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    return {
        "animation": False,
        "grid": {"left": 60, "right": 20, "top": 20, "bottom": 40},
        "xAxis": {"type": "value", "name": "target", "nameLocation": "middle", "nameGap": 25,
                  "scale": True},
        "yAxis": {"type": "value", "name": "predicted", "scale": True},
        "series": [
            {"type": "scatter", "name": "samples", "symbolSize": 4, "data": points},
            {"type": "line", "name": "predicted = target", "showSymbol": False,
             "data": [[low, low], [high, high]]},
        ],
    }  # fmt: skip


def histogram_option(report: dict[str, Any]) -> dict[str, Any]:
    edges, counts = report["residuals"]["edges"], report["residuals"]["counts"]
    centres = [f"{(a + b) / 2:.3g}" for a, b in zip(edges, edges[1:], strict=False)]
    return {
        "animation": False,
        "grid": {"left": 50, "right": 20, "top": 20, "bottom": 40},
        "xAxis": {"type": "category", "data": centres, "name": "residual (predicted − target)",
                  "nameLocation": "middle", "nameGap": 25},
        "yAxis": {"type": "value", "name": "samples"},
        "series": [{"type": "bar", "data": counts, "barCategoryGap": "5%"}],
    }  # fmt: skip


def lr_option(curve: dict[str, Any]) -> dict[str, Any]:
    """Loss (raw and smoothed) against the learning rate on a log axis, the suggestion marked."""
    raw = [[lr, loss] for lr, loss in zip(curve["lrs"], curve["losses"], strict=True)]
    smooth = [[lr, loss] for lr, loss in zip(curve["lrs"], curve["smoothed"], strict=True)]
    series: list[dict[str, Any]] = [
        {"type": "line", "name": "loss", "showSymbol": False, "data": raw,
         "lineStyle": {"opacity": 0.3}},
        {"type": "line", "name": "smoothed", "showSymbol": False, "data": smooth},
    ]  # fmt: skip
    if curve.get("suggestion"):
        series[1]["markLine"] = {
            "symbol": "none",
            "data": [{"xAxis": curve["suggestion"], "name": "suggestion"}],
            "label": {"formatter": f"suggested {curve['suggestion']:.2g}"},
        }
    finite = [v for v in curve["smoothed"] if math.isfinite(v)]
    top = 1.5 * finite[0] if finite else None  # the explosion would flatten the rest
    return {
        "animation": False,
        "legend": {"top": 0},
        "tooltip": {"trigger": "axis"},
        "grid": {"left": 60, "right": 30, "top": 30, "bottom": 40},
        "xAxis": {"type": "log", "name": "learning rate", "nameLocation": "middle",
                  "nameGap": 25},
        "yAxis": {"type": "value", "name": "loss", "scale": True,
                  **({"max": math.ceil(10 * max(top, max(finite[: len(finite) // 2 + 1]))) / 10}
                     if top else {})},
        "series": series,
    }  # fmt: skip
