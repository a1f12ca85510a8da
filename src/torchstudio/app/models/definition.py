"""The project's models as the Model tabs edit them: add, duplicate, rename, delete, settings.

Pure functions over the project store, so the tabs' logic is tested without a browser.
"""

from __future__ import annotations

import copy
from typing import Any

from torchstudio.app.catalog import Catalog, code_for, module_key
from torchstudio.app.demo import DEMO_MODEL, model_document, new_model
from torchstudio.app.store.project import Project
from torchstudio.train.ddp.plan import PlanError, backend_for, batch_summary, parse_devices

PRECISIONS = ("fp32", "tf32", "fp16", "bf16")
# Settings a user types in the tab, with the type their text becomes.
NUMBER_SETTINGS = {"batch_size": int, "epochs": int, "early_stop": int, "seed": int}
MAX_PORT = 65535


def add_model(project: Project, catalog: Catalog, name: str = DEMO_MODEL) -> str:
    """A new model tab with a built-in model (the demo's by default); returns its name."""
    return project.add_model(name, new_model(catalog, name))


def duplicate_model(project: Project, name: str, new_name: str | None = None) -> str:
    """A copy with the code and every setting, but no build, epochs or weights."""
    document = copy.deepcopy(project.model(name))
    document.update(build=None, status="not built", training=None)
    return project.add_model(new_name or name, document)


def rename_model(project: Project, name: str, new_name: str) -> str:
    new_name = new_name.strip()
    if not new_name:
        raise ValueError("a model needs a name")
    if new_name != name:
        project.rename_model(name, new_name)
    return new_name


def choose_module(project: Project, catalog: Catalog, name: str, key: str) -> None:
    """Use model module `key` with its default parameters; its code replaces the model's."""
    info = catalog.find("models", key)
    if info is None:
        raise KeyError(f"no model module {key}")
    code, _ = code_for(info, {})
    project.update_model(
        name, module=module_key(info), values={}, code=code or "", code_edited=False
    )


def set_value(project: Project, catalog: Catalog, name: str, parameter: str, text: str) -> str:
    """Change one parameter of the model module; returns the error text ('' when valid)."""
    document = project.model(name)
    info = catalog.find("models", document.get("module") or "")
    if info is None:
        return "custom code: edit the code"
    values = {**(document.get("values") or {}), parameter: text}
    code, errors = code_for(info, values)
    if code is None:
        return next(iter(errors.values()))
    project.update_model(name, values=values, code=code, code_edited=False)
    return ""


def set_code(project: Project, name: str, code: str) -> None:
    if code != project.model(name).get("code"):
        project.update_model(name, code=code, code_edited=True, status="not built")


# Training parts the tab picks from modules: setting -> module kind in the catalog.
PART_KINDS = {"loss": "loss", "metric": "metrics", "optimizer": "optim", "scheduler": "schedulers"}


PER_OUTPUT = ("loss", "metric")  # one chunk per model output


def part_entry(document: dict[str, Any], key: str, output: int = 0) -> dict[str, Any]:
    """The module choice of training part `key` (of output `output` for losses and metrics)."""
    part = (document.get("parts") or {}).get(key)
    if isinstance(part, list):
        return (part[output] if output < len(part) else None) or {}
    return (part or {}) if output == 0 else {}  # a single choice: the first output's


def part_code(key: str, code: str) -> Any:
    """A setting's value for a part's code: one chunk per output for losses and metrics."""
    return [code] if key in PER_OUTPUT else code


def _store_part(
    project: Project, name: str, key: str, output: int, entry: dict[str, Any], code: str
) -> None:
    """Write part `key`'s module choice and code; losses and metrics only at `output`."""
    document = project.model(name)
    parts = dict(document.get("parts") or {})
    settings = dict(document.get("settings") or {})
    if key in PER_OUTPUT:
        entries = parts.get(key)
        entries = list(entries) if isinstance(entries, list) else [entries or {}]
        chunks = list(effective_settings(document)[key] or [])
        entries += [{}] * (output + 1 - len(entries))
        chunks += [""] * (output + 1 - len(chunks))
        entries[output], chunks[output] = entry, code
        parts[key], settings[key] = entries, chunks
    else:
        parts[key], settings[key] = entry, code
    project.update_model(name, parts=parts, settings=settings)


def choose_part(
    project: Project, catalog: Catalog, name: str, key: str, module: str, output: int = 0
) -> str:
    """Use module `module` (defaults) for training part `key` (of `output`); returns its code."""
    info = catalog.find(PART_KINDS[key], module)
    if info is None:
        raise KeyError(f"no {key} module {module}")
    code, _ = code_for(info, {})
    entry = {"module": module, "values": {}, "edited": False}
    _store_part(project, name, key, output, entry, code or "")
    return code or ""


def set_part_value(
    project: Project,
    catalog: Catalog,
    name: str,
    key: str,
    parameter: str,
    text: str,
    output: int = 0,
) -> str:
    """Change one parameter of a training part's module; returns the error text ('' if valid)."""
    part = part_entry(project.model(name), key, output)
    info = catalog.find(PART_KINDS[key], part.get("module") or "")
    if info is None:
        return "pick a module first"
    values = {**(part.get("values") or {}), parameter: text}
    code, errors = code_for(info, values)
    if code is None:
        return next(iter(errors.values()))
    _store_part(project, name, key, output, {**part, "values": values, "edited": False}, code)
    return ""


def set_part_code(project: Project, name: str, key: str, code: str, output: int = 0) -> None:
    """Code typed by hand for part `key` (of `output`): kept, and marked as edited."""
    current = effective_settings(project.model(name))[key]
    if key in PER_OUTPUT:
        current = current[output] if isinstance(current, list) and output < len(current) else ""
    if code == (current or ""):
        return
    part = part_entry(project.model(name), key, output)
    _store_part(project, name, key, output, {**part, "edited": True}, code)


def parse_setting(key: str, text: Any) -> Any:
    """The value a setting's text stands for; '' clears it (back to the suggestion)."""
    if text is None or text == "":
        return None
    if key in NUMBER_SETTINGS:
        value = NUMBER_SETTINGS[key](text)
        if value < 1:
            raise ValueError(f"{key} must be at least 1")
        return value
    if key == "dist_port":
        port = int(text)
        if not 1 <= port <= MAX_PORT:
            raise ValueError(f"dist_port must be a TCP port (1 to {MAX_PORT}), not {port}")
        return port
    if key == "precision" and text not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}")
    return text


def set_setting(project: Project, name: str, key: str, value: Any) -> None:
    settings = {**(project.model(name).get("settings") or {}), key: value}
    project.update_model(name, settings=settings)


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
    project: Project, name: str, server: str | None, devices: Any, known_servers: list[str]
) -> None:
    """Store where model `name` trains: its server and devices (checked first)."""
    settings = dict(project.model(name).get("settings") or {})
    device = settings.get("device") or "cpu"
    if isinstance(devices, str) and devices != "all":  # one device: `device` says it
        device, devices = devices, None
    check_placement(server, devices, device, known_servers)
    settings.update(server=server, devices=devices, device=device)
    project.update_model(name, settings=settings)


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


def effective_settings(document: dict[str, Any]) -> dict[str, Any]:
    """The model's settings, each missing one filled from modelbuild's suggestions."""
    suggestions = (document.get("build") or {}).get("suggestions") or {}
    hyper = suggestions.get("hyperparameters") or {}
    chosen = {k: v for k, v in (document.get("settings") or {}).items() if v is not None}
    return {
        "device": chosen.get("device", "cpu"),
        "server": chosen.get("server"),
        "devices": chosen.get("devices"),
        "dist_port": chosen.get("dist_port"),
        "precision": chosen.get("precision", "fp32"),
        "epochs": chosen.get("epochs", hyper.get("epochs", 10)),
        "batch_size": chosen.get("batch_size", hyper.get("batch_size", 64)),
        "early_stop": chosen.get("early_stop"),
        "shuffle": chosen.get("shuffle", True),
        "class_weights": chosen.get("class_weights", False),
        "loss": chosen.get("loss") or [s["code"] for s in suggestions.get("loss", [])],
        "metric": chosen.get("metric") or [s["code"] for s in suggestions.get("metric", [])],
        "optimizer": chosen.get("optimizer") or (suggestions.get("optimizer") or {}).get("code"),
        "scheduler": chosen.get("scheduler", (suggestions.get("scheduler") or {}).get("code", "")),
    }


__all__ = [
    "add_model",
    "batch_line",
    "check_placement",
    "choose_module",
    "choose_part",
    "cpu_processes",
    "duplicate_model",
    "effective_settings",
    "model_document",
    "parse_setting",
    "rename_model",
    "set_code",
    "part_entry",
    "set_part_code",
    "set_part_value",
    "set_placement",
    "set_setting",
    "set_value",
    "world_size",
]
