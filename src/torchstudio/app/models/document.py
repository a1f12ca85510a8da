"""A model's document as the project stores it, typed: the model, its training settings and
parts, and the build's suggestions.

`from_json` reads every document the app has written (missing keys take their empty value,
unknown keys are kept and written back); a field of the wrong type raises DocumentError
naming it. `TrainingSettings` holds only what the user set (None: not set);
`TrainingSettings.effective` is the one place where user values, the build's suggestions
and the trainer's defaults (`TrainSettings`) meet.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from torchstudio.app.checked import DocumentError
from torchstudio.app.checked import checked as _check
from torchstudio.app.dataset.definition import tensor_ids
from torchstudio.app.models.trackers import parse_target
from torchstudio.train.settings import COMPILE_CHOICES, PRECISIONS, TrainSettings

# Training parts picked from modules: setting -> module kind in the catalog.
PART_KINDS = {"loss": "loss", "metric": "metrics", "optimizer": "optim", "scheduler": "schedulers"}
PER_OUTPUT = ("loss", "metric")  # one chunk per model output
TRAINER_DEFAULTS = TrainSettings()  # the defaults: the trainer's own
# Settings only the app reads (where to train, whether to weight the loss), with their defaults.
# `log`: where runs are mirrored ("tensorboard:DIR", "mlflow:URI"; trackers.py).
APP_DEFAULTS: dict[str, Any] = {"server": None, "class_weights": False, "log": ()}
# Settings the user types as whole numbers, with the least value each may take.
NUMBER_SETTINGS = {"batch_size": 1, "epochs": 1, "early_stop": 1, "seed": 0, "checkpoint_every": 1}
# Hyperparameters the build suggests: setting -> key in the suggestions.
SUGGESTED_NUMBERS = {"batch_size": "batch_size", "epochs": "epochs"}
# Settings sent to the trainer (the rest of TrainSettings keeps the trainer's defaults).
TRAINER_KEYS = (
    "device",
    "precision",
    "compile",
    "batch_size",
    "shuffle",
    "epochs",
    "early_stop",
    "checkpoint_every",
    "seed",
    "loss",
    "metric",
    "optimizer",
    "scheduler",
    "devices",
    "dist_port",
)


def _texts(value: Any, where: str) -> dict[str, str]:
    """A {parameter: text} mapping (a module's parameter values)."""
    _check(value, dict, where, "a mapping of parameter texts")
    for key, text in (value or {}).items():
        _check(text, str, f"{where}.{key}", "a text")
    return dict(value or {})


# ------------------------------------------------------------------ parts and suggestions


@dataclass(frozen=True)
class PartChoice:
    """The module a training part was made from, its parameter texts, and whether its code
    was then edited by hand."""

    module: str | None = None
    values: dict[str, str] = field(default_factory=dict)
    edited: bool = False

    @classmethod
    def from_json(cls, data: Any, where: str) -> PartChoice | None:
        if not data:
            return None
        _check(data, dict, where, "a module choice")
        return cls(
            module=_check(data.get("module"), str, f"{where}.module", "a module key"),
            values=_texts(data.get("values"), f"{where}.values"),
            edited=bool(_check(data.get("edited"), bool, f"{where}.edited", "true or false")),
        )

    def to_json(self) -> dict[str, Any]:
        return {"module": self.module, "values": dict(self.values), "edited": self.edited}


@dataclass(frozen=True)
class Suggestion:
    """One part modelbuild suggests: its module, parameter texts and the code they make."""

    code: str
    module: str | None = None
    values: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Any, where: str) -> Suggestion | None:
        if not data:
            return None
        _check(data, dict, where, "a suggestion")
        name = _check(data.get("name"), str, f"{where}.name", "a module name")
        # Builds before the suggestions named their module key suggested built-in modules.
        module = data.get("module") or (f"torchstudio:{name}" if name else None)
        return cls(
            code=_check(data.get("code"), str, f"{where}.code", "code text") or "",
            module=_check(module, str, f"{where}.module", "a module key"),
            values=_texts(data.get("values"), f"{where}.values"),
        )

    def choice(self) -> PartChoice:
        return PartChoice(self.module, dict(self.values), False)


@dataclass(frozen=True)
class Suggestions:
    """modelbuild's suggestions: a loss and a metric per output, optimizer, scheduler,
    batch size and epochs."""

    loss: tuple[Suggestion | None, ...] = ()
    metric: tuple[Suggestion | None, ...] = ()
    optimizer: Suggestion | None = None
    scheduler: Suggestion | None = None
    hyperparameters: dict[str, int] = field(default_factory=dict)
    raw: Any = field(default=None, compare=False)  # as modelbuild wrote them: written back

    @classmethod
    def from_json(cls, data: Any, where: str = "build.suggestions") -> Suggestions:
        _check(data, dict, where, "a mapping")
        data = data or {}
        per_output: dict[str, tuple[Suggestion | None, ...]] = {}
        for key in PER_OUTPUT:
            items = _check(data.get(key), list, f"{where}.{key}", "a list") or []
            per_output[key] = tuple(
                Suggestion.from_json(item, f"{where}.{key}[{i}]") for i, item in enumerate(items)
            )
        hyper = _check(data.get("hyperparameters"), dict, f"{where}.hyperparameters", "a mapping")
        for key, value in (hyper or {}).items():
            _check(value, int, f"{where}.hyperparameters.{key}", "a whole number")
        return cls(
            loss=per_output["loss"],
            metric=per_output["metric"],
            optimizer=Suggestion.from_json(data.get("optimizer"), f"{where}.optimizer"),
            scheduler=Suggestion.from_json(data.get("scheduler"), f"{where}.scheduler"),
            hyperparameters=dict(hyper or {}),
            raw=data,
        )

    def part(self, key: str, output: int = 0) -> Suggestion | None:
        """The suggestion for part `key` (of output `output` for losses and metrics)."""
        if key in PER_OUTPUT:
            items: tuple[Suggestion | None, ...] = getattr(self, key)
            return items[output] if output < len(items) else None
        return getattr(self, key) if output == 0 else None


# ------------------------------------------------------------------ training settings


@dataclass(frozen=True)
class Effective:
    """Every training setting as it applies, and which of them come from a suggestion
    ("batch_size", "optimizer", "loss:1" for the second output's loss...)."""

    values: dict[str, Any]
    suggested: frozenset[str]

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def is_suggested(self, key: str, output: int = 0) -> bool:
        return (f"{key}:{output}" if key in PER_OUTPUT else key) in self.suggested

    def chunk(self, key: str, output: int = 0) -> str:
        """The code of part `key` (of `output` for losses and metrics)."""
        value = self.values[key]
        if key in PER_OUTPUT:
            return value[output] if output < len(value) else ""
        return value or ""

    def trainer_settings(self, roles: list[str], **overrides: Any) -> dict[str, Any]:
        """The settings `modeltrain` takes: these, the tensors the dataset's roles give, and
        `overrides` (`torchstudio run --epochs/--device`) where given."""
        inputs, outputs = tensor_ids(roles)
        settings = {key: self.values[key] for key in TRAINER_KEYS}
        for key in PER_OUTPUT:  # the last outputs with no loss (or metric) yet have none:
            # the trainer then says how many outputs, targets and losses there are
            chunks = list(settings[key])
            while chunks and not chunks[-1].strip():
                chunks.pop()
            settings[key] = chunks
        settings.update(input_ids=inputs, output_ids=outputs)
        settings.update({k: v for k, v in overrides.items() if v is not None})
        return {k: v for k, v in settings.items() if v is not None}


@dataclass(frozen=True)
class TrainingSettings:
    """The training settings the user set; None: not set (a suggestion or a default applies).

    `loss` and `metric` hold one chunk per model output (None: not set for that output);
    `scheduler` "" is "no scheduler", chosen by the user.
    """

    device: str | None = None
    server: str | None = None
    devices: str | list[Any] | None = None
    dist_port: int | None = None
    precision: str | None = None
    compile: str | None = None
    epochs: int | None = None
    batch_size: int | None = None
    early_stop: int | None = None
    checkpoint_every: int | None = None
    seed: int | None = None
    shuffle: bool | None = None
    class_weights: bool | None = None
    log: tuple[str, ...] | None = None
    loss: tuple[str | None, ...] = ()
    metric: tuple[str | None, ...] = ()
    optimizer: str | None = None
    scheduler: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # keys this version does not know

    @classmethod
    def from_json(cls, data: Any, where: str = "settings") -> TrainingSettings:
        _check(data, dict, where, "a mapping")
        data = dict(data or {})
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        values: dict[str, Any] = {}
        for key in ("device", "server", "precision", "compile", "optimizer", "scheduler"):
            values[key] = _check(data.get(key), str, f"{where}.{key}", "a text")
        for key, least in NUMBER_SETTINGS.items():
            number = _check(data.get(key), int, f"{where}.{key}", "a whole number")
            if number is not None and number < least:
                raise DocumentError(f"{where}.{key} must be at least {least}, not {number}")
            values[key] = number
        values["dist_port"] = _check(data.get("dist_port"), int, f"{where}.dist_port", "a port")
        for key in ("shuffle", "class_weights"):
            values[key] = _check(data.get(key), bool, f"{where}.{key}", "true or false")
        values["devices"] = _check(
            data.get("devices"), (str, list), f"{where}.devices", "a device or a list"
        )
        targets = _check(data.get("log"), list, f"{where}.log", "a list of log targets")
        for index, target in enumerate(targets or []):
            _check(target, str, f"{where}.log[{index}]", "a text (tensorboard:DIR, mlflow:URI)")
            try:
                parse_target(target)
            except ValueError as exc:
                raise DocumentError(f"{where}.log[{index}]: {exc}") from None
        values["log"] = None if targets is None else tuple(targets)
        if values["precision"] is not None and values["precision"] not in PRECISIONS:
            raise DocumentError(
                f"{where}.precision must be one of {', '.join(PRECISIONS)}, "
                f"not {values['precision']!r}"
            )
        if values["compile"] is not None and values["compile"] not in COMPILE_CHOICES:
            raise DocumentError(
                f"{where}.compile must be one of {', '.join(COMPILE_CHOICES)}, "
                f"not {values['compile']!r}"
            )
        for key in PER_OUTPUT:
            chunks = _check(data.get(key), (list, str), f"{where}.{key}", "a list of code texts")
            chunks = [chunks] if isinstance(chunks, str) else chunks or []
            for index, chunk in enumerate(chunks):
                _check(chunk, str, f"{where}.{key}[{index}]", "code text")
            values[key] = tuple(chunk or None for chunk in chunks)  # "" was "not set"
        extra = {k: v for k, v in data.items() if k not in known}
        return cls(**values, extra=extra)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if item.name == "extra":
                continue
            if item.name in PER_OUTPUT:
                if any(chunk is not None for chunk in value):
                    data[item.name] = list(value)
            elif item.name == "log" and value is not None:
                data[item.name] = list(value)
            elif value is not None:
                data[item.name] = value
        return {**data, **self.extra}

    def chunk(self, key: str, output: int = 0) -> str | None:
        """The user's code of part `key` (of `output`); None when not set."""
        if key in PER_OUTPUT:
            chunks: tuple[str | None, ...] = getattr(self, key)
            return chunks[output] if output < len(chunks) else None
        return getattr(self, key)

    def with_chunk(self, key: str, code: str | None, output: int = 0) -> TrainingSettings:
        """These settings with part `key`'s code (of `output`) set, or unset with None."""
        if key not in PER_OUTPUT:
            return dataclasses.replace(self, **{key: code})
        chunks = list(getattr(self, key))
        chunks += [None] * (output + 1 - len(chunks))
        chunks[output] = code or None  # an empty chunk is no chunk: the suggestion applies
        return dataclasses.replace(self, **{key: tuple(chunks)})

    def effective(self, suggestions: Suggestions | None = None, outputs: int = 0) -> Effective:
        """Each setting: the user's, else the build's suggestion, else the default.

        `outputs` is the number of model outputs the build found (0: not built), so that
        each output gets a loss and a metric chunk ("" where there is none yet).
        """
        suggestions = suggestions or Suggestions()
        suggested: set[str] = set()
        values: dict[str, Any] = {}
        for key in (*TRAINER_KEYS, *APP_DEFAULTS):
            if key in PER_OUTPUT:
                continue
            mine = getattr(self, key)
            default = APP_DEFAULTS[key] if key in APP_DEFAULTS else getattr(TRAINER_DEFAULTS, key)
            values[key] = mine if mine is not None else default
        for key, hyper in SUGGESTED_NUMBERS.items():
            if getattr(self, key) is None and hyper in suggestions.hyperparameters:
                values[key] = suggestions.hyperparameters[hyper]
                suggested.add(key)
        for key in ("optimizer", "scheduler"):
            suggestion = suggestions.part(key)
            if getattr(self, key) is None and suggestion is not None:
                values[key] = suggestion.code
                suggested.add(key)
        for key in PER_OUTPUT:
            mine = getattr(self, key)
            theirs: tuple[Suggestion | None, ...] = getattr(suggestions, key)
            chunks = []
            for output in range(max(outputs, len(mine), len(theirs))):
                chunk = mine[output] if output < len(mine) else None
                suggestion = theirs[output] if output < len(theirs) else None
                if chunk is None and suggestion is not None:
                    chunk = suggestion.code
                    suggested.add(f"{key}:{output}")
                chunks.append(chunk or "")
            values[key] = chunks
        return Effective(values, frozenset(suggested))


# ------------------------------------------------------------------ the model's document


@dataclass(frozen=True)
class BuildSummary:
    """What the last build reported: parameters, output shapes, warnings, suggestions."""

    parameters: dict[str, Any] | None = None
    outputs: tuple[dict[str, Any], ...] = ()
    warnings: tuple[Any, ...] = ()
    suggestions: Suggestions = field(default_factory=Suggestions)
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Any, where: str = "build") -> BuildSummary | None:
        if data is None:
            return None
        _check(data, dict, where, "a mapping")
        outputs = _check(data.get("outputs"), list, f"{where}.outputs", "a list") or []
        for index, output in enumerate(outputs):
            _check(output, dict, f"{where}.outputs[{index}]", "a mapping")
        known = ("parameters", "outputs", "warnings", "suggestions")
        return cls(
            parameters=_check(data.get("parameters"), dict, f"{where}.parameters", "a mapping"),
            outputs=tuple(outputs),
            warnings=tuple(_check(data.get("warnings"), list, f"{where}.warnings", "a list") or []),
            suggestions=Suggestions.from_json(data.get("suggestions"), f"{where}.suggestions"),
            extra={k: v for k, v in data.items() if k not in known},
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "parameters": self.parameters,
            "outputs": list(self.outputs),
            "warnings": list(self.warnings),
            "suggestions": self.suggestions.raw,
            **self.extra,
        }


@dataclass(frozen=True)
class ModelDocument:
    """A model of the project: its module or code, training settings and parts, last build,
    status, and whether its tab is closed."""

    code: str = ""
    module: str | None = None
    values: dict[str, str] = field(default_factory=dict)
    code_edited: bool = False
    workdir: str | None = None
    settings: TrainingSettings = field(default_factory=TrainingSettings)
    parts: dict[str, tuple[PartChoice | None, ...]] = field(default_factory=dict)
    build: BuildSummary | None = None
    status: str = "not built"
    closed: bool = False
    training: dict[str, Any] | None = None  # the last training's summary
    # The trainer's settings of the last training, in projects before runs (version 2);
    # a run keeps its own snapshot now.
    settings_used: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # keys this version does not know

    @classmethod
    def from_json(cls, data: Any) -> ModelDocument:
        _check(data, dict, "model document", "a mapping")
        parts: dict[str, tuple[PartChoice | None, ...]] = {}
        stored = _check(data.get("parts"), dict, "parts", "a mapping") or {}
        for key, entry in stored.items():
            if key not in PART_KINDS:
                raise DocumentError(f"parts.{key} is not a training part ({', '.join(PART_KINDS)})")
            entries = entry if isinstance(entry, list) else [entry]
            parts[key] = tuple(
                PartChoice.from_json(item, f"parts.{key}" + (f"[{i}]" if key in PER_OUTPUT else ""))
                for i, item in enumerate(entries)
            )
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        return cls(
            code=_check(data.get("code"), str, "code", "code text") or "",
            module=_check(data.get("module"), str, "module", "a module key"),
            values=_texts(data.get("values"), "values"),
            code_edited=bool(_check(data.get("code_edited"), bool, "code_edited", "true or false")),
            workdir=_check(data.get("workdir"), str, "workdir", "a folder path"),
            settings=TrainingSettings.from_json(data.get("settings")),
            parts=parts,
            build=BuildSummary.from_json(data.get("build")),
            status=_check(data.get("status"), str, "status", "a text") or "not built",
            closed=bool(_check(data.get("closed"), bool, "closed", "true or false")),
            training=_check(data.get("training"), dict, "training", "a mapping"),
            settings_used=_check(data.get("settings_used"), dict, "settings_used", "a mapping"),
            extra={k: v for k, v in data.items() if k not in known},
        )

    def to_json(self) -> dict[str, Any]:
        parts = {
            key: [e.to_json() if e else {} for e in entries]
            if key in PER_OUTPUT
            else (entries[0].to_json() if entries and entries[0] else {})
            for key, entries in self.parts.items()
        }
        return {
            "module": self.module,
            "values": dict(self.values),
            "code": self.code,
            "code_edited": self.code_edited,
            "workdir": self.workdir,
            "settings": self.settings.to_json(),
            "parts": parts,
            "build": self.build.to_json() if self.build is not None else None,
            "status": self.status,
            "closed": self.closed,
            "training": self.training,
            "settings_used": self.settings_used,
            **self.extra,
        }

    @property
    def suggestions(self) -> Suggestions:
        return self.build.suggestions if self.build is not None else Suggestions()

    def effective(self) -> Effective:
        """The training settings as they apply (see TrainingSettings.effective)."""
        outputs = len(self.build.outputs) if self.build is not None else 0
        return self.settings.effective(self.suggestions, outputs)

    def part(self, key: str, output: int = 0) -> PartChoice | None:
        """The user's module choice for part `key` (of `output`); None when not chosen."""
        entries = self.parts.get(key, ())
        return entries[output] if output < len(entries) else None

    def shown_part(self, key: str, output: int = 0) -> tuple[PartChoice | None, bool]:
        """The module choice a part's picker shows, and whether it is the build's suggestion
        (shown while the user has not set that part)."""
        if self.settings.chunk(key, output) is None:
            suggestion = self.suggestions.part(key, output)
            if suggestion is not None:
                return suggestion.choice(), True
        return self.part(key, output), False

    def with_part(self, key: str, choice: PartChoice | None, output: int = 0) -> ModelDocument:
        entries = list(self.parts.get(key, ()))
        index = output if key in PER_OUTPUT else 0
        entries += [None] * (index + 1 - len(entries))
        entries[index] = choice
        return dataclasses.replace(self, parts={**self.parts, key: tuple(entries)})
