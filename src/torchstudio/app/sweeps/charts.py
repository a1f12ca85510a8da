"""The sweep's views as ECharts options and text. Pure functions."""

from __future__ import annotations

import json
import math
from typing import Any

from torchstudio.app.sweeps.space import Dimension


def space_text(space: tuple[Dimension, ...]) -> str:
    """A space as the TOML its file takes (what the Sweep card's editor starts with)."""
    lines = []
    for d in space:
        lines.append(f'["{d.key}"]' if "." in d.key else f"[{d.key}]")
        if d.choices:
            lines.append(f"choices = {json.dumps(list(d.choices))}")
        else:
            lines += [f"low = {d.low!r}", f"high = {d.high!r}"]
            if d.log:
                lines.append("log = true")
        lines.append("")
    return "\n".join(lines)


def parallel_option(records: list[dict[str, Any]], keys: list[str]) -> dict[str, Any]:
    """Parallel coordinates: one axis per setting (log axes for learning rates spanning
    decades), then the value; one line per finished trial, pruned ones faint."""
    shown = [r for r in records if r["params"] and r["state"] in ("complete", "pruned")]
    axes: list[dict[str, Any]] = []
    for position, key in enumerate(keys):
        values = [r["params"].get(key) for r in shown]
        numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
        if numbers and len(numbers) == len(values):
            wide = min(numbers) > 0 and max(numbers) / min(numbers) >= 100
            axes.append({"dim": position, "name": key, "type": "log" if wide else "value"})
        else:
            categories = sorted({str(v) for v in values})
            axes.append({"dim": position, "name": key, "type": "category", "data": categories})
    axes.append({"dim": len(keys), "name": "value", "type": "value", "scale": True})
    lines = [
        {
            "value": [
                *(r["params"].get(k) if axes[i]["type"] != "category" else str(r["params"].get(k))
                  for i, k in enumerate(keys)),
                r["value"] if r["value"] is not None else None,
            ],
            "lineStyle": {"opacity": 0.9 if r["state"] == "complete" else 0.25},
        }
        for r in shown
    ]  # fmt: skip
    return {
        "animation": False,
        "parallelAxis": axes,
        "parallel": {"left": 60, "right": 60, "top": 30, "bottom": 20},
        "series": [{"type": "parallel", "data": lines, "lineStyle": {"width": 2}}],
    }


def importance_option(importances: dict[str, float]) -> dict[str, Any]:
    keys = list(importances)[::-1]  # the most important at the top
    return {
        "animation": False,
        "grid": {"left": 140, "right": 30, "top": 10, "bottom": 30},
        "xAxis": {"type": "value", "max": 1},
        "yAxis": {"type": "category", "data": keys},
        "series": [{"type": "bar", "data": [importances[k] for k in keys]}],
    }


def value_text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else str(value)
    return str(value)


def trial_rows(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "trial": r["trial"],
            "state": r["state"],
            "value": "" if r["value"] is None else f"{r['value']:.4f}",
            "run": r["run"] if r["run"] is not None else "",
            "epochs": r["epochs"],
            "settings": ", ".join(f"{k} {value_text(v)}" for k, v in r["params"].items()),
        }
        for r in sorted(records, key=lambda r: r["trial"])
    ]
