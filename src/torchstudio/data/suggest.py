"""Suggestions the Dataset tab starts from: tensor roles, a renderer per tensor, an analyzer."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def suggest_roles(count: int) -> list[str]:
    """The last tensor is the output (the target), the others are inputs."""
    if count == 1:
        return ["both"]  # a lone tensor is its own target (auto-encoders, generators)
    return ["input"] * (count - 1) + ["output"]


def suggest_renderer(array: np.ndarray, role: str = "input") -> str:
    """Pick a built-in renderer from a tensor's rank and dtype."""
    kind = array.dtype.kind
    if kind == "c":
        return "Spectrogram"
    if array.ndim == 0:
        return "Labels"
    if array.ndim == 1:
        if role == "output" and (kind in "iub" or array.shape[0] <= 1000):
            return "Labels"
        return "Signal"
    if array.ndim == 2:
        if (
            role == "output"
            and array.shape[-1] in (4, 5, 6)
            and kind == "f"
            and array.shape[0] < 512
        ):
            return "BoundingBox"
        if array.shape[0] <= 16 and array.shape[1] >= 64:
            return "Signal"  # few channels of a long signal
        return "Bitmap"
    if array.ndim == 3:
        if array.shape[0] in (1, 3, 4):
            return "Bitmap"
        return "Spectrogram" if array.shape[0] <= 2 else "Volume"
    return "Volume"


def suggest_analyzer(output: np.ndarray | None) -> str:
    """Class indices -> Multiclass, 0/1 vectors -> MultiLabel, anything else -> ValuesDistribution."""
    if output is None:
        return "ValuesDistribution"
    if output.ndim == 0 and output.dtype.kind in "iub":
        return "Multiclass"
    if output.ndim == 1 and output.size > 1 and np.isin(output, (0, 1)).all():
        return "MultiLabel"
    return "ValuesDistribution"


def suggest_all(arrays: Sequence[np.ndarray]) -> dict[str, object]:
    roles = suggest_roles(len(arrays))
    outputs = [a for a, r in zip(arrays, roles, strict=True) if r in ("output", "both")]
    return {
        "roles": roles,
        "renderers": [suggest_renderer(a, r) for a, r in zip(arrays, roles, strict=True)],
        "analyzer": suggest_analyzer(outputs[-1] if outputs else None),
    }
