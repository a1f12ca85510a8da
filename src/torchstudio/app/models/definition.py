"""A model's edits as the Model tabs make them: pure functions, document -> new document.

`ModelService` (service.py) loads a model's document, applies one of these and stores the
result; the module catalog is only read here.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from torchstudio.app.catalog import Catalog, code_for, form_parameters, module_key
from torchstudio.app.models import trackers
from torchstudio.app.models.document import (
    NUMBER_SETTINGS,
    PART_KINDS,
    PER_OUTPUT,
    SUGGESTED_NUMBERS,
    DocumentError,
    ModelDocument,
    PartChoice,
    TrainingSettings,
)
from torchstudio.pythonparse import ModuleInfo
from torchstudio.train.ddp.plan import PlanError, backend_for, batch_summary, parse_devices
from torchstudio.train.settings import COMPILE_CHOICES, PRECISIONS

MAX_PORT = 65535
# Names the trainer defines where a part's code runs: a parameter so named gets them, so
# the schedule follows the epochs and the batches per epoch (train count / batch size).
TRAINER_NAMES = ("epochs", "steps_per_epoch")


def duplicate(document: ModelDocument) -> ModelDocument:
    """A copy with the code and every setting, but no build or training results."""
    return dataclasses.replace(
        document, build=None, status="not built", training=None, settings_used=None, closed=False
    )


def clean_name(text: str) -> str:
    """A model's name as typed, trimmed; ValueError when nothing is left."""
    name = text.strip()
    if not name:
        raise ValueError("a model needs a name")
    return name


def choose_module(document: ModelDocument, info: ModuleInfo) -> ModelDocument:
    """Use model module `info` with its default parameters; its code replaces the model's."""
    code, _ = code_for(info, {})
    return dataclasses.replace(
        document, module=module_key(info), values={}, code=code or "", code_edited=False
    )


def set_value(
    document: ModelDocument, info: ModuleInfo | None, parameter: str, text: str
) -> tuple[ModelDocument, str]:
    """Change one parameter of the model module: (new document, error text or '')."""
    if info is None:
        return document, "custom code: edit the code"
    values = {**document.values, parameter: text}
    code, errors = code_for(info, values)
    if code is None:
        return document, next(iter(errors.values()))  # the last valid code stays
    return dataclasses.replace(document, values=values, code=code, code_edited=False), ""


def set_code(document: ModelDocument, code: str) -> ModelDocument:
    """Code typed by hand: kept, marked as edited, and the model needs a new build."""
    if code == document.code:
        return document
    return dataclasses.replace(document, code=code, code_edited=True, status="not built")


# ------------------------------------------------------------------ training parts


def part_module(catalog: Catalog, key: str, module: str | None) -> ModuleInfo | None:
    return catalog.find(PART_KINDS[key], module) if module else None


def carried_values(info: ModuleInfo, previous: dict[str, str]) -> tuple[dict[str, str], str]:
    """The parameter texts a newly picked module keeps, and its code: the same-named values
    set before, and the trainer's names for parameters so named (TRAINER_NAMES). A value the
    new module refuses is dropped (its default applies)."""
    names = {str(p["name"]) for p in form_parameters(info)}
    values = {k: v for k, v in previous.items() if k in names}
    for name in TRAINER_NAMES:
        if name in names:
            values.setdefault(name, name)
    while True:
        code, errors = code_for(info, values)
        if code is not None:
            return values, code
        refused = next(iter(errors))
        if refused not in values:  # not one of ours: the module's defaults alone
            return {}, code_for(info, {})[0] or ""
        del values[refused]


def _store_part(
    document: ModelDocument, key: str, output: int, choice: PartChoice, code: str
) -> ModelDocument:
    """Part `key` (of `output`) becomes the user's: its module choice and its code."""
    settings = document.settings.with_chunk(key, code, output)
    return dataclasses.replace(document.with_part(key, choice, output), settings=settings)


def choose_part(
    document: ModelDocument, catalog: Catalog, key: str, module: str, output: int = 0
) -> ModelDocument:
    """Use module `module` for part `key` (of `output`), keeping the values that still apply
    (those of the part shown so far, the user's or the suggestion's)."""
    info = part_module(catalog, key, module)
    if info is None:
        raise KeyError(f"no {key} module {module}")
    shown, _ = document.shown_part(key, output)
    values, code = carried_values(info, shown.values if shown else {})
    return _store_part(document, key, output, PartChoice(module_key(info), values), code)


def set_part_value(
    document: ModelDocument, catalog: Catalog, key: str, parameter: str, text: str, output: int = 0
) -> tuple[ModelDocument, str]:
    """Change one parameter of the part's module (a suggested part becomes the user's):
    (new document, error text or '')."""
    shown, _ = document.shown_part(key, output)
    info = part_module(catalog, key, shown.module if shown else None)
    if shown is None or info is None:
        return document, "pick a module first"
    values = {**shown.values, parameter: text}
    code, errors = code_for(info, values)
    if code is None:
        return document, next(iter(errors.values()))
    return _store_part(document, key, output, PartChoice(shown.module, values), code), ""


def set_part_code(document: ModelDocument, key: str, code: str, output: int = 0) -> ModelDocument:
    """Code typed by hand for part `key` (of `output`): the user's, marked as edited."""
    if code == document.effective().chunk(key, output):
        return document
    shown, _ = document.shown_part(key, output)
    choice = dataclasses.replace(shown, edited=True) if shown else PartChoice(edited=True)
    return _store_part(document, key, output, choice, code)


def accept_suggestion(document: ModelDocument, key: str, output: int = 0) -> ModelDocument:
    """The value suggested for `key` (a number or a part) becomes the user's own."""
    if key in SUGGESTED_NUMBERS:
        value = document.suggestions.hyperparameters.get(SUGGESTED_NUMBERS[key])
        if value is None or getattr(document.settings, key) is not None:
            return document
        settings = dataclasses.replace(document.settings, **{key: value})
        return dataclasses.replace(document, settings=settings)
    if key not in PART_KINDS:
        raise ValueError(f"{key} is not a suggested setting")
    suggestion = document.suggestions.part(key, output)
    if suggestion is None or document.settings.chunk(key, output) is not None:
        return document
    return _store_part(document, key, output, suggestion.choice(), suggestion.code)


# ------------------------------------------------------------------ settings


def parse_setting(key: str, text: Any) -> Any:
    """The value a setting's text stands for; '' clears it (back to the suggestion)."""
    if text is None or text == "":
        return None
    if key in NUMBER_SETTINGS:
        value = int(text)
        if value < NUMBER_SETTINGS[key]:
            raise ValueError(f"{key} must be at least {NUMBER_SETTINGS[key]}, not {value}")
        return value
    if key == "dist_port":
        port = int(text)
        if not 1 <= port <= MAX_PORT:
            raise ValueError(f"dist_port must be a TCP port (1 to {MAX_PORT}), not {port}")
        return port
    if key == "log":  # "tensorboard:runs, mlflow:mlruns": each checked, its package too
        targets = trackers.parse_targets(str(text))
        trackers.check_available(targets)
        return targets
    if key == "precision" and text not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}")
    if key == "compile" and text not in COMPILE_CHOICES:
        raise ValueError(f"compile must be one of {', '.join(COMPILE_CHOICES)}")
    return text


def set_setting(document: ModelDocument, key: str, value: Any) -> ModelDocument:
    """Setting `key` set to `value` (None: not set); a wrong type raises DocumentError."""
    if key in PER_OUTPUT or key in ("optimizer", "scheduler"):
        raise ValueError(f"{key} is a training part: pick its module or edit its code")
    if key not in {f.name for f in dataclasses.fields(TrainingSettings)} - {"extra"}:
        raise DocumentError(f"settings.{key} is not a training setting")
    settings = TrainingSettings.from_json({**document.settings.to_json(), key: value})
    return dataclasses.replace(document, settings=settings)


# ------------------------------------------------------------------ where a model trains


def check_placement(
    server: str | None, devices: Any, device: str, known_servers: list[str]
) -> None:
    """Raise ValueError, naming the problem, unless the model can train there like that.

    `server` is None (this machine) or one of `known_servers`; `devices` is one of the
    forms of docs/distributed.md, read by the trainer's own parser (ddp/plan.py).
    """
    where = "this machine" if server is None else f"server {server!r}"
    if server is not None and server not in known_servers:
        listed = ", ".join(repr(s) for s in known_servers) or "none yet"
        raise ValueError(f"server {server!r} is not one of the app's servers ({listed})")
    try:
        hosts = parse_devices(devices, device)
    except PlanError as exc:
        raise ValueError(f"devices: {exc}") from None
    for index, host in enumerate(hosts):
        if index == 0 and host.server not in (None, server):
            raise ValueError(
                f"devices: host 0 is the model's own trainer ({where}): give it server None"
            )
        if index > 0 and host.server is None:
            raise ValueError(
                f"devices: host {index} needs a server name (only host 0 is the model's machine)"
            )
        if index > 0 and host.server not in known_servers:
            raise ValueError(f"devices: host {index}: {host.server!r} is not one of the servers")
        if index > 0 and host.server == server:
            raise ValueError(f"devices: host {index} is {where} again, already host 0")
    # Every process of a job: "all" stands for GPUs, whatever their number turns out to be.
    every = [d for h in hosts for d in (("cuda",) if h.devices == "all" else h.devices)]
    if len(every) > 1 or any(h.devices == "all" for h in hosts):
        if "mps" in every:
            raise ValueError("devices: MPS trains in one process only: pick it alone")
        try:
            backend_for(every)
        except PlanError as exc:
            raise ValueError(f"devices: {exc}") from None
        gpus = [d if ":" in d else "cuda:0" for d in every if d.startswith("cuda:") or d == "cuda"]
        for host in hosts:
            named = [] if host.devices == "all" else [d for d in host.devices if d in gpus]
            if len(set(named)) != len(named):
                raise ValueError(
                    f"devices: each GPU may be used by one process only ({host.label}: "
                    f"{', '.join(named)}); for several processes on the CPU, repeat cpu"
                )


def set_placement(
    document: ModelDocument,
    server: str | None,
    devices: Any,
    known_servers: list[str],
) -> ModelDocument:
    """Where the model trains: its server and devices (checked first)."""
    device = document.effective()["device"]
    if isinstance(devices, str) and devices != "all":  # one device: `device` says it
        device, devices = devices, None
    check_placement(server, devices, device, known_servers)
    settings = dataclasses.replace(document.settings, server=server, devices=devices, device=device)
    return dataclasses.replace(document, settings=settings)


def cpu_processes(count: int) -> list[str]:
    """`count` training processes on the CPU (a Gloo job); 1 is the usual single process."""
    if count < 1:
        raise ValueError(f"CPU processes must be at least 1, not {count}")
    return ["cpu"] * count


def world_size(
    devices: Any, device: str, server: str | None, gpus_of: dict[str | None, int]
) -> int | None:
    """How many processes a job has; None when "all" names the GPUs of an unchecked machine.

    `gpus_of` counts the GPUs of each machine checked so far (None: this machine).
    """
    total = 0
    for host in parse_devices(devices, device):
        machine = host.server or server  # host 0 (server None) is the model's machine
        if host.devices == "all":
            if machine not in gpus_of:
                return None
            total += gpus_of[machine]
        else:
            total += len(host.devices)
    return total


def batch_line(batch_size: int, processes: int | None) -> str:
    """The effective batch and learning-rate note shown under the devices."""
    if processes is None:
        return f"batch {batch_size} per device x every GPU (checking the server's GPUs)"
    if processes <= 1:
        return f"batch {batch_size} on one device"
    summary = batch_summary(batch_size, processes)
    return (
        f"effective batch {summary['effective_batch_size']} = {batch_size} per device x "
        f"{processes} processes. Learning rate not scaled: "
        + summary["lr_scaling"].removeprefix("none: ")
    )
