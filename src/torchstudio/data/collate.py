"""Column-wise conversion of many raw samples at once, for the cache's materialisation.

Converting sample by sample costs microseconds of Python per element; stacking a whole
chunk of samples per tensor position costs one call. This handles the common shapes of
samples (tuples or lists of tensors, arrays and numbers); anything else returns None and
the caller converts sample by sample with `flatten_sample`, whose results this matches.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch


def collate_columns(samples: Sequence[Any]) -> list[np.ndarray] | None:
    """Stack a chunk of raw samples into one array per tensor position, or None."""
    first = samples[0]
    if not isinstance(first, tuple | list) or not first:
        return None
    width = len(first)
    columns: list[np.ndarray] = []
    for position in range(width):
        try:
            elements = [sample[position] for sample in samples]
        except (IndexError, TypeError):
            return None
        column = _stack(elements)
        if column is None:
            return None
        columns.append(column)
    if any(len(sample) != width for sample in samples):
        return None
    return columns


def _stack(elements: list[Any]) -> np.ndarray | None:
    kind = type(elements[0])
    if any(type(element) is not kind for element in elements):
        return None
    if kind is torch.Tensor:
        if elements[0].dtype == torch.bfloat16 or elements[0].device.type != "cpu":
            return None
        try:
            return torch.stack(elements).numpy()
        except RuntimeError:  # shapes or dtypes differ: the per-sample path explains why
            return None
    if kind is np.ndarray:
        if elements[0].dtype.kind in "OUSV":
            return None
        try:
            stacked = np.stack(elements)
        except ValueError:
            return None
        return stacked if all(e.dtype == stacked.dtype for e in elements[:1]) else None
    if kind is int:
        return np.asarray(elements, dtype=np.int64)
    if kind is float:
        return np.asarray(elements, dtype=np.float32)
    if kind is bool:
        return np.asarray(elements, dtype=np.bool_)
    return None
