"""Turn whatever a dataset returns into a flat tuple of numpy arrays, or say clearly why not."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image


class SampleError(ValueError):
    """A sample that cannot be used; the message names the sample, element and problem."""


def _describe(path: Sequence[str]) -> str:
    return "".join(path) if path else "the sample itself"


def _to_array(value: Any, sample_index: int, path: list[str]) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        tensor = value.detach()
        if tensor.device.type != "cpu":
            tensor = tensor.cpu()
        if tensor.dtype == torch.bfloat16:
            tensor = tensor.float()
        return tensor.numpy()
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "OUSV":
            raise SampleError(
                f"sample {sample_index}, element {_describe(path)}: numpy array of dtype "
                f"{value.dtype} cannot be a tensor (expected numbers or booleans)"
            )
        return value
    if isinstance(value, Image.Image):
        return _image_to_array(value)
    if isinstance(value, bool | np.bool_):
        return np.asarray(value, dtype=np.bool_)
    if isinstance(value, int | np.integer):
        return np.asarray(value, dtype=np.int64)
    if isinstance(value, float | np.floating):
        return np.asarray(value, dtype=np.float32)
    if isinstance(value, complex):
        return np.asarray(value, dtype=np.complex64)
    raise SampleError(
        f"sample {sample_index}, element {_describe(path)}: cannot convert "
        f"{type(value).__name__} to a tensor (expected a tensor, numpy array, PIL image or number)"
    )


def _image_to_array(image: Image.Image) -> np.ndarray:
    """A PIL image becomes CxHxW float32 in [0, 1], as torchvision's ToTensor does."""
    if image.mode not in ("L", "RGB", "RGBA", "F", "I", "I;16", "1"):
        image = image.convert("RGB")
    array = np.asarray(image)
    if array.dtype == np.uint8 or image.mode == "1":
        array = array.astype(np.float32) / 255.0
    else:
        array = array.astype(np.float32)
    if array.ndim == 2:
        return array[None]
    return np.ascontiguousarray(array.transpose(2, 0, 1))


def flatten_sample(sample: Any, sample_index: int) -> tuple[np.ndarray, ...]:
    """Flatten tuples, lists and dicts (in key order) of tensor-like leaves into arrays."""
    leaves: list[np.ndarray] = []

    def visit(value: Any, path: list[str]) -> None:
        if isinstance(value, Mapping):
            for key, item in value.items():
                visit(item, [*path, f"[{key!r}]"])
        elif isinstance(value, tuple | list):
            if value and all(isinstance(v, int | float | bool) for v in value) and path:
                # A list of plain numbers inside a sample is one vector, not many scalars.
                leaves.append(np.asarray(value))
                return
            for position, item in enumerate(value):
                visit(item, [*path, f"[{position}]"])
        else:
            leaves.append(_to_array(value, sample_index, path))

    if isinstance(sample, Mapping | tuple | list):
        visit(sample, [])
    else:
        visit(sample, ["[0]"])
    if not leaves:
        raise SampleError(f"sample {sample_index} contains no tensors")
    return tuple(leaves)


@dataclass(frozen=True)
class TensorSpec:
    """What is fixed for one tensor position across samples: its dtype and rank."""

    dtype: str
    ndim: int


def sample_structure(arrays: Sequence[np.ndarray]) -> tuple[TensorSpec, ...]:
    return tuple(TensorSpec(str(a.dtype), a.ndim) for a in arrays)


def check_structure(
    expected: tuple[TensorSpec, ...],
    arrays: Sequence[np.ndarray],
    sample_index: int,
    names: tuple[str, str] | None = None,
) -> None:
    """Raise a SampleError describing the first difference with the first sample's structure.

    `names` says which samples are compared (default: "sample N" against "sample 0").
    """
    this, first = names or (f"sample {sample_index}", "sample 0")
    if len(arrays) != len(expected):
        raise SampleError(
            f"{this} has {len(arrays)} tensors but {first} has {len(expected)}: "
            "all samples must have the same structure"
        )
    for position, (spec, array) in enumerate(zip(expected, arrays, strict=True)):
        if str(array.dtype) != spec.dtype or array.ndim != spec.ndim:
            raise SampleError(
                f"{this}, tensor {position}: {array.dtype} with {array.ndim} "
                f"dimensions, but {first} has {spec.dtype} with {spec.ndim}: "
                "all samples must have the same structure"
            )
