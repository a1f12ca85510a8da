"""The meta-dataset's settings (split, shuffle, usage, roles): plain data, no torch, so the
app reads the same defaults as the worker without importing torch."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

SHUFFLE_MODES = ("none", "train", "all")
# How a lone `train` dataset is split: by class in proportion, at random, or in its order.
SPLIT_MODES = ("stratified", "random", "ordered")
ROLES = ("input", "output", "both", "none")
PAD_SIDES = ("right", "left")
# An extra tensor beside the padded one: its length (0-d int64) or a mask (True where data).
PAD_EXTRAS = ("none", "lengths", "mask")


@dataclass(frozen=True)
class Padding:
    """How samples whose tensor `tensor` varies in length along `dim` form batches."""

    tensor: int
    dim: int = 0
    value: float = 0.0
    side: str = "right"
    length: int | None = None  # None: the longest of each batch; else cut or pad to it
    extra: str = "none"

    def validate(self) -> None:
        if self.tensor < 0 or self.dim < 0:
            raise ValueError(
                f"padding tensor and dim must be 0 or more, not {self.tensor} and {self.dim}"
            )
        if self.side not in PAD_SIDES:
            raise ValueError(
                f"padding side must be one of {', '.join(PAD_SIDES)}, not {self.side!r}"
            )
        if self.extra not in PAD_EXTRAS:
            raise ValueError(
                f"padding extra must be one of {', '.join(PAD_EXTRAS)}, not {self.extra!r}"
            )
        if self.length is not None and self.length < 1:
            raise ValueError(f"padding length must be at least 1, not {self.length}")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any] | bool | None) -> Padding | None:
        """None (no padding) for None, False or an empty mapping; ValueError names a bad
        field."""
        if not data:
            return None
        if not isinstance(data, dict):
            raise ValueError(f"padding must be a mapping, not {type(data).__name__}")
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown padding settings: {', '.join(sorted(unknown))}")
        if "tensor" not in data:
            raise ValueError("padding needs `tensor`: the position of the tensor to pad")
        padding = cls(**data)
        padding.validate()
        return padding


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
    # See Padding; None or False: samples are not padded (False: the user said so).
    padding: dict[str, Any] | bool | None = None

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
        Padding.from_json(self.padding)
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
