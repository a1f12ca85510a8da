"""Samples of different lengths: what varies, the padding that batches them, and the words
when a batch still holds a list because nothing pads it.

The padded tensor's extra companion (its length, or a mask) is added to each sample right
after it by the meta-dataset (`with_extra`), so it is an ordinary tensor everywhere (load
report, roles, cache); `pad_batch` then pads both when a batch forms.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from torchstudio.data.settings import Padding

SCAN_SAMPLES = 64  # evenly spaced samples per split whose shapes the load report compares


def with_extra(arrays: tuple[np.ndarray, ...], padding: Padding | None) -> tuple[np.ndarray, ...]:
    """The sample with the padded tensor's length or mask inserted right after it."""
    if padding is None or padding.extra == "none" or padding.tensor >= len(arrays):
        return arrays
    array = arrays[padding.tensor]
    if padding.dim >= array.ndim:
        raise ValueError(
            f"padding dim {padding.dim} does not exist: tensor {padding.tensor} has "
            f"{array.ndim} dimensions (shape {list(array.shape)})"
        )
    length = array.shape[padding.dim]
    if padding.length is not None:
        length = min(length, padding.length)
    extra = (
        np.asarray(length, dtype=np.int64)
        if padding.extra == "lengths"
        else np.ones(array.shape[padding.dim], dtype=np.bool_)
    )
    position = padding.tensor + 1
    return (*arrays[:position], extra, *arrays[position:])


def _fit(tensor: torch.Tensor, dim: int, size: int, value: float, side: str) -> torch.Tensor:
    """`tensor` cut or padded with `value` to `size` along `dim`, on `side`."""
    length = tensor.shape[dim]
    if length > size:
        start = 0 if side == "right" else length - size
        return tensor.narrow(dim, start, size)
    if length == size:
        return tensor
    shape = list(tensor.shape)
    shape[dim] = size - length
    filler = torch.full(shape, value, dtype=tensor.dtype)
    parts = (tensor, filler) if side == "right" else (filler, tensor)
    return torch.cat(parts, dim=dim)


def pad_column(tensors: Sequence[torch.Tensor], padding: Padding, value: float) -> torch.Tensor:
    """One batch column of the padded tensor (or its mask): cut or padded, then stacked."""
    dim = padding.dim
    size = padding.length or max(t.shape[dim] for t in tensors)
    fitted = [_fit(t, dim, size, value, padding.side) for t in tensors]
    try:
        return torch.stack(fitted)
    except RuntimeError as exc:
        shapes = sorted({tuple(t.shape) for t in fitted})
        raise ValueError(
            f"tensor {padding.tensor} still varies after padding dim {dim}: shapes "
            f"{', '.join(str(list(s)) for s in shapes[:4])}; pad the dimension that varies"
        ) from exc


def pad_batch(batch: list[Any], padding: Padding | None) -> list[Any]:
    """The batch with the padded tensor (and its mask) stacked; other columns unchanged."""
    if padding is None or padding.tensor >= len(batch):
        return batch
    padded = list(batch)
    if isinstance(padded[padding.tensor], list):
        padded[padding.tensor] = pad_column(padded[padding.tensor], padding, padding.value)
    mask = padding.tensor + 1
    if padding.extra == "mask" and mask < len(padded) and isinstance(padded[mask], list):
        padded[mask] = pad_column(padded[mask], padding, 0)
    return padded


def unstacked_message(batch: Sequence[Any], ids: Sequence[int]) -> str | None:
    """Why a batch cannot reach the model: the first tensor of `ids` left as a list of
    samples of different shapes (None when every one is stacked)."""
    for position in ids:
        if position < len(batch) and isinstance(batch[position], list):
            shapes = sorted({tuple(t.shape) for t in batch[position]})
            shown = ", ".join(str(list(shape)) for shape in shapes[:3])
            more = " ..." if len(shapes) > 3 else ""
            return (
                f"tensor {position} varies in shape between samples ({shown}{more}), so its "
                f"samples cannot form a batch: set the padding of tensor {position} (Dataset "
                "tab, padding settings), or train with a batch size of 1"
            )
    return None


def varying_tensors(
    read: Callable[[int], Sequence[np.ndarray]], count: int, scan: int = SCAN_SAMPLES
) -> list[dict[str, Any]]:
    """Tensors whose shape differs among up to `scan` evenly spaced samples: for each, its
    position, the dims that vary, and the smallest and largest shape seen (per dim)."""
    if count == 0:
        return []
    indices = np.unique(np.linspace(0, count - 1, min(scan, count)).astype(int))
    shapes: list[list[tuple[int, ...]]] = []
    for index in indices:
        for position, array in enumerate(read(int(index))):
            if position >= len(shapes):
                shapes.append([])
            shapes[position].append(tuple(array.shape))
    varying = []
    for position, seen in enumerate(shapes):
        if len(set(seen)) < 2 or len({len(s) for s in seen}) != 1:
            continue
        table = np.asarray(seen)
        low, high = table.min(axis=0), table.max(axis=0)
        varying.append(
            {
                "tensor": position,
                "dims": [int(d) for d in np.flatnonzero(low != high)],
                "min": low.tolist(),
                "max": high.tolist(),
            }
        )
    return varying
