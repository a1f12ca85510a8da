"""A sweep's search space: which training settings vary, and over what. Pure.

Written in TOML, one table per setting (the keys of `torchstudio run --set`, aliases
included):

    [learning_rate]          # log-uniform between low and high
    low = 1e-4
    high = 0.1
    log = true

    [batch_size]             # one of these
    choices = [16, 32, 64]

    ["optimizer.weight_decay"]   # uniform (whole numbers when low and high are)
    low = 0.0
    high = 0.01
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torchstudio.app.models.overrides import OverrideError, check_key


class SpaceError(ValueError):
    """The search space is not usable; the message names the file and the setting."""


@dataclass(frozen=True)
class Dimension:
    """One setting of the space: a range (low, high, log, whole numbers) or choices."""

    key: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False
    choices: tuple[Any, ...] = ()

    def distribution(self) -> Any:
        from optuna.distributions import (
            CategoricalDistribution,
            FloatDistribution,
            IntDistribution,
        )

        if self.choices:
            return CategoricalDistribution(self.choices)
        assert self.low is not None and self.high is not None
        if self.integer:
            return IntDistribution(int(self.low), int(self.high), log=self.log)
        return FloatDistribution(float(self.low), float(self.high), log=self.log)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Dimension:
        return cls(**{**data, "choices": tuple(data.get("choices") or ())})

    def to_json(self) -> dict[str, Any]:
        if self.choices:
            return {"key": self.key, "choices": list(self.choices)}
        return {"key": self.key, "low": self.low, "high": self.high, "log": self.log,
                "integer": self.integer}  # fmt: skip


# Without a space file: the learning rate and the batch size.
DEFAULT_SPACE = (
    Dimension("optimizer.lr", 1e-4, 1e-1, log=True),
    Dimension("batch_size", choices=(16, 32, 64, 128)),
)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def dimension(key: str, spec: Any, where: str) -> Dimension:
    """One table of the space; SpaceError says what is wrong with it."""
    try:
        resolved = check_key(key, where)
    except OverrideError as exc:
        raise SpaceError(str(exc)) from None
    if not isinstance(spec, dict):
        raise SpaceError(f"{where}: give a table with low and high, or choices")
    unknown = set(spec) - {"low", "high", "log", "choices"}
    if unknown:
        raise SpaceError(f"{where}: unknown field(s) {', '.join(sorted(unknown))} (low, "
                         "high, log, choices)")  # fmt: skip
    if "choices" in spec:
        choices = spec["choices"]
        if not isinstance(choices, list) or not choices or set(spec) - {"choices"}:
            raise SpaceError(f"{where}: choices must be a non-empty list, alone in its table")
        return Dimension(resolved, choices=tuple(choices))
    low, high, log = spec.get("low"), spec.get("high"), spec.get("log", False)
    if not (_number(low) and _number(high)) or not low < high:
        raise SpaceError(f"{where}: low and high must be numbers with low < high, not "
                         f"{low!r} and {high!r}")  # fmt: skip
    if not isinstance(log, bool) or (log and low <= 0):
        raise SpaceError(f"{where}: log must be true or false, and log ranges start above 0")
    integer = isinstance(low, int) and isinstance(high, int)
    return Dimension(resolved, float(low) if not integer else low,
                     float(high) if not integer else high, log, integer)  # fmt: skip


def parse_space(text: str, source: str) -> tuple[Dimension, ...]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpaceError(f"{source}: not valid TOML: {exc}") from exc
    if not data:
        raise SpaceError(f"{source}: the space is empty: give at least one setting's table")
    return tuple(dimension(key, spec, f"{source} [{key}]") for key, spec in data.items())


def read_space(path: Path) -> tuple[Dimension, ...]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpaceError(f"cannot read the search space file {path}: {exc}") from exc
    return parse_space(text, str(path))
