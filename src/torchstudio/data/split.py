"""The meta-dataset: training/validation split, shuffle, sample usage and tensor roles."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from torchstudio.data.padding import with_extra
from torchstudio.data.samples import flatten_sample
from torchstudio.data.settings import DatasetSettings, Padding

__all__ = ["DatasetSettings", "MetaSplit", "make_splits", "split_indices", "stratified_choice"]

# An index into the user's datasets: (0 = `train`, 1 = `valid`, position).
SourceIndex = tuple[int, int]


def split_indices(
    train_len: int,
    valid_len: int | None,
    settings: DatasetSettings,
    labels: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Return (training, validation) index arrays of shape (n, 2): source and position.

    Without a `valid` dataset, the training dataset is split by `settings.split`:
    `stratified` takes the training share of every class (of `labels`, one per sample;
    without labels it is `random`), `random` a seeded random share, `ordered` its first
    samples (after shuffling when the shuffle mode is `all`).
    """
    settings.validate()
    rng = np.random.default_rng(settings.seed)
    train_positions = np.arange(train_len)
    if valid_len is None:
        count = settings.training_samples
        if count is None:
            count = int(round(train_len * settings.split_ratio))
        count = min(count, train_len)
        if settings.split == "stratified" and labels is not None and len(labels) == train_len:
            chosen = stratified_choice(labels, count, rng)
            order = rng.permutation(train_len)
            first, rest = order[chosen[order]], order[~chosen[order]]
        else:
            if settings.split != "ordered" or settings.shuffle == "all":
                train_positions = rng.permutation(train_len)
            first, rest = train_positions[:count], train_positions[count:]
        training = np.stack([np.zeros(len(first), np.int64), first], axis=1)
        validation = np.stack([np.zeros(len(rest), np.int64), rest], axis=1)
    else:
        if settings.training_samples is not None:
            train_positions = train_positions[: settings.training_samples]
        training = np.stack([np.zeros(len(train_positions), np.int64), train_positions], axis=1)
        valid_positions = np.arange(valid_len)
        if settings.shuffle == "all":
            valid_positions = rng.permutation(valid_len)
        validation = np.stack([np.ones(valid_len, np.int64), valid_positions], axis=1)
    if settings.shuffle in ("train", "all"):
        training = training[rng.permutation(len(training))]
    return _use(training, settings.usage_ratio), _use(validation, settings.usage_ratio)


def stratified_choice(labels: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """A mask of `count` samples holding every class in proportion (the training share).

    Shares are rounded by largest remainder; a class of two samples or more keeps at
    least one for validation and one for training while the totals allow it.
    """
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
        # Move single samples from classes past a bound to the classes furthest from their
        # exact share that have room.
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


def _use(indices: np.ndarray, ratio: float) -> np.ndarray:
    keep = math.ceil(len(indices) * ratio) if len(indices) else 0
    return indices[:keep].reshape(-1, 2).astype(np.int64)


class MetaSplit(Dataset):
    """One split of the meta-dataset: samples as tuples of numpy arrays."""

    def __init__(
        self, sources: Sequence[Any], indices: np.ndarray, padding: Padding | None = None
    ) -> None:
        self.sources = sources
        self.indices = indices
        self.padding = padding  # adds the padded tensor's length or mask to each sample

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> tuple[np.ndarray, ...]:
        return with_extra(flatten_sample(self.raw(index), int(index)), self.padding)

    def raw(self, index: int) -> Any:
        """The sample exactly as the user's dataset returns it."""
        if index < 0:  # not counted from the end: a negative index is a caller's mistake
            raise IndexError(f"sample {index} is negative; the first sample is 0")
        if index >= len(self):
            raise IndexError(f"sample {index} is out of range (this split has {len(self)})")
        source, position = self.indices[index]
        return self.sources[source][int(position)]

    def raw_range(self, start: int, stop: int) -> list[Any]:
        """Samples start..stop as the user's dataset returns them (for bulk conversion)."""
        sources = self.sources
        return [sources[source][position] for source, position in self.indices[start:stop].tolist()]


def make_splits(
    train: Any, valid: Any | None, settings: DatasetSettings, labels: np.ndarray | None = None
) -> tuple[MetaSplit, MetaSplit]:
    """Wrap the user's `train` (and optional `valid`) datasets into training/validation splits.

    `labels` (one class label per sample of `train`) lets a lone `train` be stratified.
    """
    training, validation = split_indices(
        len(train), None if valid is None else len(valid), settings, labels
    )
    sources = (train, valid if valid is not None else train)
    padding = Padding.from_json(settings.padding)
    return MetaSplit(sources, training, padding), MetaSplit(sources, validation, padding)
