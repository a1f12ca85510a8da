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

    ["model.channels"]       # a parameter of the model's own form (its module's)
    low = 8
    high = 64
    log = true
"""

from __future__ import annotations

import ast
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torchstudio.app.models.overrides import MODEL_FORM, OverrideError, check_key


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


def form_key(parameter: str) -> str:
    """The space's key of a parameter of the model's form."""
    return f"{MODEL_FORM}.{parameter}"


def _literal(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None


def suggested_dimension(parameter: str, annotation: str | None, text: str) -> Dimension:
    """A first range for a form parameter from its value now (`text`) and its type: whole
    numbers from a quarter to four times it (log: channels, sizes), fractions below 1 from 0
    (dropout), other positive numbers a decade either side; true/false both; anything else
    its value alone (more choices are typed in)."""
    key = form_key(parameter)
    value = _literal(text)
    kind = (annotation or "").replace(" ", "")
    if isinstance(value, bool) or kind == "bool":
        return Dimension(key, choices=(True, False))
    if isinstance(value, int) or (value is None and kind == "int"):
        number = value if isinstance(value, int) else 0
        if number >= 2:
            return Dimension(key, max(1, number // 4), number * 4, log=True, integer=True)
        return Dimension(key, 0, max(4, number * 4), integer=True)
    if isinstance(value, float) or (value is None and kind == "float"):
        number = value if isinstance(value, float) else 0.0
        if 0.0 <= number < 1.0:
            return Dimension(key, 0.0, round(max(0.5, min(0.9, number * 2)), 3))
        if number > 0:
            return Dimension(key, number / 10, number * 10, log=True)
        return Dimension(key, number * 10, -number / 10 if number else 1.0)
    return Dimension(key, choices=(value if value is not None else text,))


def with_form_parameters(
    space: tuple[Dimension, ...], chosen: dict[str, Dimension]
) -> tuple[Dimension, ...]:
    """`space` searching exactly the form parameters of `chosen` (key -> its suggested
    dimension): those already in it keep their range, new ones come last, others leave."""
    prefix = form_key("")
    kept = tuple(d for d in space if not d.key.startswith(prefix) or d.key in chosen)
    present = {d.key for d in kept}
    return kept + tuple(d for key, d in chosen.items() if key not in present)
