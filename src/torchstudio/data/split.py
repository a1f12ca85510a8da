"""The meta-dataset: training/validation split, shuffle, sample usage and tensor roles."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from torchstudio.data.samples import flatten_sample

SHUFFLE_MODES = ("none", "train", "all")
ROLES = ("input", "output", "both", "none")


@dataclass
class DatasetSettings:
    """How the studio wraps the user's dataset. Everything here is JSON-able."""

    split_ratio: float = 0.8  # used when the code defines no `valid`
    training_samples: int | None = None  # overrides split_ratio when set
    shuffle: str = "none"  # none / train (training samples only) / all
    seed: int = 0
    usage_ratio: float = 1.0  # use only this fraction of each split
    roles: list[str] = field(default_factory=list)  # per tensor; empty = suggested

    def validate(self) -> None:
        if self.shuffle not in SHUFFLE_MODES:
            raise ValueError(
                f"shuffle must be one of {', '.join(SHUFFLE_MODES)}, not {self.shuffle!r}"
            )
        if not 0.0 < self.split_ratio <= 1.0:
            raise ValueError(f"split_ratio must be in (0, 1], not {self.split_ratio}")
        if not 0.0 < self.usage_ratio <= 1.0:
            raise ValueError(f"usage_ratio must be in (0, 1], not {self.usage_ratio}")
        if self.training_samples is not None and self.training_samples < 1:
            raise ValueError(f"training_samples must be at least 1, not {self.training_samples}")
        for role in self.roles:
            if role not in ROLES:
                raise ValueError(f"tensor role must be one of {', '.join(ROLES)}, not {role!r}")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> DatasetSettings:
        settings = cls(**(data or {}))
        settings.validate()
        return settings


# An index into the user's datasets: (0 = `train`, 1 = `valid`, position).
SourceIndex = tuple[int, int]


def split_indices(
    train_len: int, valid_len: int | None, settings: DatasetSettings
) -> tuple[np.ndarray, np.ndarray]:
    """Return (training, validation) index arrays of shape (n, 2): source and position.

    Without a `valid` dataset, the training dataset is split: its first samples train
    (after shuffling when the mode is `all`), the rest validate.
    """
    settings.validate()
    rng = np.random.default_rng(settings.seed)
    train_positions = np.arange(train_len)
    if valid_len is None:
        if settings.shuffle == "all":
            train_positions = rng.permutation(train_len)
        count = settings.training_samples
        if count is None:
            count = int(round(train_len * settings.split_ratio))
        count = min(count, train_len)
        training = np.stack([np.zeros(count, np.int64), train_positions[:count]], axis=1)
        rest = train_positions[count:]
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


def _use(indices: np.ndarray, ratio: float) -> np.ndarray:
    keep = math.ceil(len(indices) * ratio) if len(indices) else 0
    return indices[:keep].reshape(-1, 2).astype(np.int64)


class MetaSplit(Dataset):
    """One split of the meta-dataset: samples as tuples of numpy arrays."""

    def __init__(self, sources: Sequence[Any], indices: np.ndarray) -> None:
        self.sources = sources
        self.indices = indices

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> tuple[np.ndarray, ...]:
        return flatten_sample(self.raw(index), int(index))

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
    train: Any, valid: Any | None, settings: DatasetSettings
) -> tuple[MetaSplit, MetaSplit]:
    """Wrap the user's `train` (and optional `valid`) datasets into training/validation splits."""
    training, validation = split_indices(
        len(train), None if valid is None else len(valid), settings
    )
    sources = (train, valid if valid is not None else train)
    return MetaSplit(sources, training), MetaSplit(sources, validation)
