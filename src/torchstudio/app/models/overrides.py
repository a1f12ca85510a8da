"""Training settings given to `torchstudio run`: `--set KEY=VALUE` and `--config FILE.toml`.

Besides the training settings, "model.NAME" sets parameter NAME of the model's own form
(the Model tab's module parameters: channels, dropout...), which makes the model's code
anew; a sweep's search space takes the same keys.

Each becomes an `Override` that remembers where it was given (for the error message); they
are applied to a model's document with the Model tab's own edits (`definition.set_setting`,
`definition.set_part_value`), so the typed document checks them and `effective()` stays the
one place where values and defaults meet. Nothing here is stored: the run uses the edited
copy. Pure, except `read_config`, which reads the file.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torchstudio.app.catalog import Catalog, form_parameters
from torchstudio.app.models import definition
from torchstudio.app.models.document import (
    NUMBER_SETTINGS,
    PER_OUTPUT,
    DocumentError,
    ModelDocument,
    TrainingSettings,
)

# Settings set as a value (the training parts are code: their module's parameters are set
# as "optimizer.NAME" / "scheduler.NAME").
VALUE_SETTINGS = tuple(
    f.name
    for f in dataclasses.fields(TrainingSettings)
    if f.name not in (*PER_OUTPUT, "optimizer", "scheduler", "extra")
)
PART_PARAMETERS = ("optimizer", "scheduler")
MODEL_FORM = "model"  # "model.NAME": a parameter of the model module's form
ALIASES = {"learning_rate": "optimizer.lr", "lr": "optimizer.lr"}
BOOLEAN_SETTINGS = ("shuffle", "class_weights")
TRUE_TEXTS, FALSE_TEXTS = ("true", "yes", "on", "1"), ("false", "no", "off", "0")
# What `--resume` may change: the run goes on with its own settings except these
# (ModelService.RESUME_FROM_MODEL; the server where it trains is the model's too).
RESUMABLE = (
    "epochs",
    "early_stop",
    "device",
    "devices",
    "dist_port",
    "server",
    "log",
    "compile",
    "checkpoint_every",
)


class OverrideError(ValueError):
    """A setting given to `torchstudio run` is unknown or has a wrong value; the message
    says where it was given and why."""


@dataclass(frozen=True)
class Override:
    """One setting: its key (an alias resolved), its value (text from `--set`, a typed
    value from TOML) and where it was given ("--set epochs=3", "run.toml line 4")."""

    key: str
    value: Any
    origin: str
    from_text: bool = False  # typed on a command line: parsed as the Model tab parses it


def known_keys() -> list[str]:
    parts = (*PART_PARAMETERS, MODEL_FORM)
    return [*VALUE_SETTINGS, *ALIASES, *(f"{part}.PARAMETER" for part in parts)]


def check_key(key: str, origin: str) -> str:
    """The setting `key` names (an alias resolved); OverrideError when it names none."""
    key = ALIASES.get(key, key)
    part, dot, parameter = key.partition(".")
    parts = (*PART_PARAMETERS, MODEL_FORM)
    if key in VALUE_SETTINGS or (dot and part in parts and parameter.isidentifier()):
        return key
    close = difflib.get_close_matches(key, [*VALUE_SETTINGS, *ALIASES], n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    raise OverrideError(
        f"{origin}: unknown setting {key!r}{hint}; settings: {', '.join(known_keys())}"
    )


def parse_set(text: str, origin: str | None = None) -> Override:
    """`--set KEY=VALUE` as an Override (the value stays text until applied); `origin`
    names the option it came from when not --set (`--epochs 3`)."""
    origin = origin or f"--set {text}"
    key, equals, value = text.partition("=")
    if not equals or not key.strip():
        raise OverrideError(f"{origin}: give KEY=VALUE, e.g. --set batch_size=32")
    return Override(check_key(key.strip(), origin), value.strip(), origin, from_text=True)


def _key_lines(text: str) -> dict[str, int]:
    """The line of each key (dotted, with its table) in TOML `text`, for error messages."""
    lines: dict[str, int] = {}
    table = ""
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        header = re.fullmatch(r"\[\s*([A-Za-z0-9_.\- ]+?)\s*\]\s*(#.*)?", stripped)
        if header:
            table = header.group(1).replace(" ", "")
            continue
        assignment = re.match(r"([A-Za-z0-9_.\- \"']+?)\s*=", stripped)
        if assignment and not stripped.startswith("#"):
            key = assignment.group(1).replace(" ", "").replace('"', "").replace("'", "")
            lines.setdefault(f"{table}.{key}" if table else key, number)
    return lines


def _flatten(data: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    items: list[tuple[str, Any]] = []
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            items += _flatten(value, f"{name}.")
        else:
            items.append((name, value))
    return items


def parse_config(text: str, source: str) -> list[Override]:
    """The settings of a TOML text (top-level keys, or [optimizer]/[scheduler] tables of
    parameters); OverrideError names `source` and the line of what is wrong."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:  # its message ends with "(at line L, column C)"
        raise OverrideError(f"{source}: not valid TOML: {exc}") from exc
    lines = _key_lines(text)
    overrides = []
    for key, value in _flatten(data):
        line = lines.get(key)
        origin = f"{source} line {line}" if line else source
        overrides.append(Override(check_key(key, origin), value, origin))
    return overrides


def read_config(path: Path) -> list[Override]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise OverrideError(f"cannot read the settings file {path}: {exc}") from exc
    return parse_config(text, str(path))


def _typed(key: str, override: Override) -> Any:
    """The value of a value setting: text from `--set` parsed as the Model tab parses it;
    TOML values as they are (the typed document checks them)."""
    value = override.value
    if not override.from_text:
        return value
    if key in BOOLEAN_SETTINGS:
        if value.lower() in TRUE_TEXTS:
            return True
        if value.lower() in FALSE_TEXTS:
            return False
        raise OverrideError(f"{override.origin}: {key} must be true or false, not {value!r}")
    if key in NUMBER_SETTINGS or key == "dist_port":
        try:
            int(value)
        except ValueError:
            raise OverrideError(
                f"{override.origin}: {key} must be a whole number, not {value!r}"
            ) from None
    return definition.parse_setting(key, value)


def check_resumable(overrides: list[Override]) -> None:
    """`--resume` continues a run with its own settings: only RESUMABLE ones may change."""
    for override in overrides:
        if override.key not in RESUMABLE:
            raise OverrideError(
                f"{override.origin}: --resume continues the run with the settings it "
                f"started with; only {', '.join(RESUMABLE)} can change"
            )


def apply(document: ModelDocument, catalog: Catalog, overrides: list[Override]) -> ModelDocument:
    """`document` with each override applied in order; OverrideError names the first
    one that is refused, and why."""
    for override in overrides:
        key = override.key
        try:
            if key in VALUE_SETTINGS:
                document = definition.set_setting(document, key, _typed(key, override))
                continue
            part, _, parameter = key.partition(".")
            text = _parameter_text(override)
            if part == MODEL_FORM:
                document, error = _set_form_value(document, catalog, parameter, text)
            else:
                document, error = definition.set_part_value(
                    document, catalog, part, parameter, text
                )
        except OverrideError:
            raise
        except (DocumentError, ValueError) as exc:
            # The typed document names the field as stored ("settings.seed"): here, the key.
            reason = str(exc).removeprefix("settings.")
            raise OverrideError(f"{override.origin}: {reason}") from exc
        if error == "pick a module first":
            raise OverrideError(
                f"{override.origin}: the model's {part} has no module to set parameters of "
                f"(none is chosen, or it is code): choose one in the Model tab"
            )
        if error:
            raise OverrideError(f"{override.origin}: {error}")
    return document


def _set_form_value(
    document: ModelDocument, catalog: Catalog, parameter: str, text: str
) -> tuple[ModelDocument, str]:
    """Parameter `parameter` of the model module's form set to `text`: (document, error)."""
    info = catalog.find("models", document.module) if document.module else None
    if info is None or document.code_edited:
        return document, (
            "the model has no module form to set parameters of (its code is typed or edited "
            "by hand): pick a model module in the Model tab"
        )
    if parameter not in {str(p["name"]) for p in form_parameters(info)}:
        names = ", ".join(str(p["name"]) for p in form_parameters(info))
        return document, f"{info.name} has no parameter {parameter!r} (its form has: {names})"
    return definition.set_value(document, info, parameter, text)


def _parameter_text(override: Override) -> str:
    """The Python text a part's parameter form takes for this value. Typed on a command
    line it must be a Python value or one of the trainer's names (`epochs`): a typo would
    otherwise only fail inside the trainer, as a NameError."""
    value = override.value
    if not override.from_text:
        if isinstance(value, str):
            return repr(value)  # a TOML text is a text: quoted
        if isinstance(value, bool | int | float | list):
            return repr(value)
        raise OverrideError(
            f"{override.origin}: {override.key} must be a number, text, true/false or a "
            f"list, not {value!r}"
        )
    if value in definition.TRAINER_NAMES:
        return value
    try:
        ast.literal_eval(value)
    except (ValueError, SyntaxError):
        raise OverrideError(
            f"{override.origin}: {override.key} must be a Python value (a number, 'text' in "
            f"quotes, True/False, a list) or one of {', '.join(definition.TRAINER_NAMES)}, "
            f"not {value!r}"
        ) from None
    return value
