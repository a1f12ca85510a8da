"""The meta-dataset's settings (split, shuffle, usage, roles): plain data, no torch, so the
app reads the same defaults as the worker without importing torch."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

SHUFFLE_MODES = ("none", "train", "all")
# How a lone `train` dataset is split: by class in proportion, at random, or in its order.
SPLIT_MODES = ("stratified", "random", "ordered")
ROLES = ("input", "output", "both", "none")


@dataclass
class DatasetSettings:
    """How the studio wraps the user's dataset. Everything here is JSON-able."""

    split_ratio: float = 0.8  # used when the code defines no `valid`
    split: str = "stratified"  # how `train` is split when the code defines no `valid`
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
        if self.split not in SPLIT_MODES:
            raise ValueError(f"split must be one of {', '.join(SPLIT_MODES)}, not {self.split!r}")
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
