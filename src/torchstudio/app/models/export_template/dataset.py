"""The dataset, as TorchStudio loads it: the dataset code, then the studio's split into
training and validation samples (with its shuffle and sample usage), each sample turned
into a tuple of numpy arrays, and the tensor roles (which tensors the model takes, which
ones its outputs are compared to)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from PIL import Image

# @SETTINGS@


def load_datasets() -> tuple[Any, Any]:
    """The dataset code: `train`, and `valid` when it defines one (else None)."""
    # @DATASET@


def split_indices(train_len: int, valid_len: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(training, validation) sample indices, rows of (source: 0 train / 1 valid, position).

    Without a `valid` dataset, the first samples of `train` train (after shuffling when
    SPLIT["shuffle"] is "all") and the rest validate.
    """
    rng = np.random.default_rng(SPLIT["seed"])
    train_positions = np.arange(train_len)
    if valid_len is None:
        if SPLIT["shuffle"] == "all":
            train_positions = rng.permutation(train_len)
        count = SPLIT["training_samples"]
        if count is None:
            count = int(round(train_len * SPLIT["split_ratio"]))
        count = min(count, train_len)
        training = np.stack([np.zeros(count, np.int64), train_positions[:count]], axis=1)
        rest = train_positions[count:]
        validation = np.stack([np.zeros(len(rest), np.int64), rest], axis=1)
    else:
        if SPLIT["training_samples"] is not None:
            train_positions = train_positions[: SPLIT["training_samples"]]
        training = np.stack([np.zeros(len(train_positions), np.int64), train_positions], axis=1)
        valid_positions = np.arange(valid_len)
        if SPLIT["shuffle"] == "all":
            valid_positions = rng.permutation(valid_len)
        validation = np.stack([np.ones(valid_len, np.int64), valid_positions], axis=1)
    if SPLIT["shuffle"] in ("train", "all"):
        training = training[rng.permutation(len(training))]
    return used(training), used(validation)


def used(indices: np.ndarray) -> np.ndarray:
    """The first SPLIT["usage_ratio"] of the indices."""
    keep = math.ceil(len(indices) * SPLIT["usage_ratio"]) if len(indices) else 0
    return indices[:keep].reshape(-1, 2).astype(np.int64)


def to_array(value: Any) -> np.ndarray:
    """A tensor, array, PIL image (C x H x W float32 in [0, 1]) or number as an array."""
    if isinstance(value, torch.Tensor):
        tensor = value.detach().cpu()
        return (tensor.float() if tensor.dtype == torch.bfloat16 else tensor).numpy()
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, Image.Image):
        image = value if value.mode in ("L", "RGB", "RGBA", "F", "I", "I;16", "1") else (
            value.convert("RGB"))  # fmt: skip
        array = np.asarray(image)
        scale = 255.0 if array.dtype == np.uint8 or image.mode == "1" else 1.0
        array = array.astype(np.float32) / scale
        return array[None] if array.ndim == 2 else np.ascontiguousarray(array.transpose(2, 0, 1))
    if isinstance(value, bool | np.bool_):
        return np.asarray(value, dtype=np.bool_)
    if isinstance(value, int | np.integer):
        return np.asarray(value, dtype=np.int64)
    if isinstance(value, float | np.floating):
        return np.asarray(value, dtype=np.float32)
    return np.asarray(value)


def flatten(sample: Any) -> tuple[np.ndarray, ...]:
    """A sample's tensors in order: tuples, lists and dicts (in key order) are opened; a
    list of plain numbers inside a sample is one vector."""
    arrays: list[np.ndarray] = []

    def visit(value: Any, nested: bool) -> None:
        if isinstance(value, Mapping):
            for item in value.values():
                visit(item, True)
        elif isinstance(value, tuple | list):
            if value and nested and all(isinstance(v, int | float | bool) for v in value):
                arrays.append(np.asarray(value))
                return
            for item in value:
                visit(item, True)
        else:
            arrays.append(to_array(value))

    visit(sample, False)
    return tuple(arrays)


class Split(torch.utils.data.Dataset):
    """One split: samples of the dataset code's `train` / `valid` as tuples of arrays."""

    def __init__(self, sources: tuple[Any, Any], indices: np.ndarray) -> None:
        self.sources = sources
        self.indices = indices

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> tuple[np.ndarray, ...]:
        source, position = self.indices[index]
        return flatten(self.sources[int(source)][int(position)])


def splits() -> tuple[Split, Split]:
    """The training and validation splits."""
    train, valid = load_datasets()
    training, validation = split_indices(len(train), None if valid is None else len(valid))
    sources = (train, valid if valid is not None else train)
    return Split(sources, training), Split(sources, validation)
