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


def split_indices(
    train_len: int, valid_len: int | None, labels: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(training, validation) sample indices, rows of (source: 0 train / 1 valid, position).

    Without a `valid` dataset, `train` is split by SPLIT["split"]: "stratified" takes the
    training share of every class (`labels`, one per sample; without them it is
    "random"), "random" a seeded random share, "ordered" its first samples (after
    shuffling when SPLIT["shuffle"] is "all").
    """
    rng = np.random.default_rng(SPLIT["seed"])
    train_positions = np.arange(train_len)
    if valid_len is None:
        count = SPLIT["training_samples"]
        if count is None:
            count = int(round(train_len * SPLIT["split_ratio"]))
        count = min(count, train_len)
        if SPLIT["split"] == "stratified" and labels is not None and len(labels) == train_len:
            chosen = stratified_choice(labels, count, rng)
            order = rng.permutation(train_len)
            first, rest = order[chosen[order]], order[~chosen[order]]
        else:
            if SPLIT["split"] != "ordered" or SPLIT["shuffle"] == "all":
                train_positions = rng.permutation(train_len)
            first, rest = train_positions[:count], train_positions[count:]
        training = np.stack([np.zeros(len(first), np.int64), first], axis=1)
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


def stratified_choice(labels: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """A mask of `count` samples with every class in proportion (largest remainders); a
    class of two samples or more keeps one for each split while the totals allow it."""
    total = len(labels)
    values, inverse, sizes = np.unique(labels, return_inverse=True, return_counts=True)
    exact = sizes * (count / total) if total else sizes * 0.0
    shares = np.floor(exact).astype(np.int64)
    remainder = count - int(shares.sum())
    if remainder > 0:
        shares[np.argsort(-(exact - shares), kind="stable")[:remainder]] += 1
    if 0 < count < total:
        low = np.where(sizes >= 2, 1, 0)
        high = np.where(sizes >= 2, sizes - 1, sizes)
        for klass in range(len(values)):
            while shares[klass] > high[klass]:
                takers = np.flatnonzero(shares < high)
                if not len(takers):
                    break
                shares[klass] -= 1
                shares[takers[np.argmax(exact[takers] - shares[takers])]] += 1
            while shares[klass] < low[klass]:
                donors = np.flatnonzero(shares > low)
                if not len(donors):
                    break
                shares[klass] += 1
                shares[donors[np.argmax(shares[donors] - exact[donors])]] -= 1
    chosen = np.zeros(total, dtype=bool)
    for klass, share in enumerate(shares):
        members = np.flatnonzero(inverse == klass)
        chosen[rng.permutation(members)[:share]] = True
    return chosen


def class_labels(dataset: Any) -> np.ndarray | None:
    """Every sample's class label (its last 0-d integer tensor), as the studio finds them:
    a `targets`/`labels` attribute or a TensorDataset's tensor that agrees with the first
    sample, else reading every sample of a dataset of at most 10000."""
    if not len(dataset):
        return None
    first = flatten(dataset[0])
    positions = [i for i, a in enumerate(first) if a.ndim == 0 and a.dtype.kind in "iu"]
    if not positions:
        return None
    position = positions[-1]
    tensors = getattr(dataset, "tensors", None)
    candidates = [getattr(dataset, "targets", None), getattr(dataset, "labels", None)]
    if isinstance(tensors, tuple) and position < len(tensors):
        candidates.append(tensors[position])
    for candidate in candidates:
        if isinstance(candidate, torch.Tensor):
            candidate = candidate.detach().cpu().numpy()
        try:
            array = np.asarray(candidate)
        except (TypeError, ValueError):
            continue
        if array.shape == (len(dataset),) and array.dtype.kind in "iu":
            if int(array[0]) == int(first[position]):
                return array.astype(np.int64)
            break
    if len(dataset) > 10000:
        return None
    values = [flatten(dataset[i])[position] for i in range(len(dataset))]
    if any(v.ndim != 0 for v in values):
        return None
    return np.asarray([int(v) for v in values], dtype=np.int64)


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


def with_extra(arrays: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
    """The sample with the padded tensor's length or mask right after it (SPLIT["padding"]
    "extra"), as the studio adds it."""
    padding = SPLIT.get("padding") or {}
    extra = padding.get("extra", "none")
    tensor, dim = padding.get("tensor", 0), padding.get("dim", 0)
    if not padding or extra == "none" or tensor >= len(arrays):
        return arrays
    length = arrays[tensor].shape[dim]
    if extra == "lengths":
        added = np.asarray(min(length, padding.get("length") or length), dtype=np.int64)
    else:
        added = np.ones(length, dtype=np.bool_)
    return (*arrays[: tensor + 1], added, *arrays[tensor + 1 :])


def pad(batch: list[Any]) -> list[Any]:
    """The batch with the padded tensor (and its mask) cut or padded to one length along
    its dim (the batch's longest, or SPLIT["padding"]["length"]) and stacked."""
    padding = SPLIT.get("padding") or {}
    if not padding:
        return batch
    tensor, dim, side = padding["tensor"], padding.get("dim", 0), padding.get("side", "right")
    columns = [(tensor, float(padding.get("value", 0.0)))]
    if padding.get("extra") == "mask":
        columns.append((tensor + 1, 0))
    for position, value in columns:
        if position >= len(batch) or not isinstance(batch[position], list):
            continue
        size = padding.get("length") or max(t.shape[dim] for t in batch[position])
        fitted = []
        for item in batch[position]:
            length = item.shape[dim]
            if length >= size:
                item = item.narrow(dim, 0 if side == "right" else length - size, size)
            else:
                shape = list(item.shape)
                shape[dim] = size - length
                filler = torch.full(shape, value, dtype=item.dtype)
                item = torch.cat((item, filler) if side == "right" else (filler, item), dim=dim)
            fitted.append(item)
        batch[position] = torch.stack(fitted)
    return batch


class Split(torch.utils.data.Dataset):
    """One split: samples of the dataset code's `train` / `valid` as tuples of arrays."""

    def __init__(self, sources: tuple[Any, Any], indices: np.ndarray) -> None:
        self.sources = sources
        self.indices = indices

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> tuple[np.ndarray, ...]:
        source, position = self.indices[index]
        return with_extra(flatten(self.sources[int(source)][int(position)]))


def splits() -> tuple[Split, Split]:
    """The training and validation splits."""
    train, valid = load_datasets()
    stratify = valid is None and SPLIT["split"] == "stratified"
    labels = class_labels(train) if stratify else None
    training, validation = split_indices(len(train), None if valid is None else len(valid), labels)
    sources = (train, valid if valid is not None else train)
    return Split(sources, training), Split(sources, validation)
