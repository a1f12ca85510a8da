"""Check that a Python environment can run TorchStudio's workers, here or on a server.

`check_environment()` returns a JSON-able report: the Python version, each needed package
with its installed version against its minimum, the devices (CUDA GPUs with name, memory
and compute capability, MPS, CPU cores), what is missing, and the exact pip command that
fixes it. As a worker it answers `check`; `python -m torchstudio.pythoncheck --json`
prints the report instead (how the app checks a server before any worker runs there).
Only the standard library is imported up front, so a broken torch is reported, not fatal.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import re
import shlex
import sys
from dataclasses import dataclass
from typing import Any

MIN_PYTHON = (3, 11)


@dataclass(frozen=True)
class Requirement:
    name: str  # the distribution name pip installs
    minimum: str
    purpose: str


# The workers' own needs (the app-only ones, NiceGUI and asyncssh, are left out).
REQUIREMENTS = (
    Requirement("torch", "2.9", "models and training"),
    Requirement("torchvision", "0.24", "datasets, models and transforms"),
    Requirement("numpy", "1.26", "tensors and the dataset cache"),
    Requirement("pillow", "10", "images"),
    Requirement("matplotlib", "3.8", "analysis reports and plots"),
    Requirement("scikit-learn", "1.4", "the bundled digits dataset"),
    Requirement("torchmetrics", "1.4", "metrics"),
    Requirement("safetensors", "0.4", "weights"),
    Requirement("schedulefree", "1.2", "schedule-free optimizers"),
)


def version_tuple(version: str) -> tuple[int, ...]:
    """The leading numeric release of a version: '2.9.0+cu128' -> (2, 9, 0)."""
    numbers = []
    for part in version.split("+")[0].split("."):
        match = re.match(r"\d+", part)
        if not match:
            break
        numbers.append(int(match.group()))
        if match.group() != part:
            break  # '0rc1': the release stops here
    return tuple(numbers)


def meets(version: str, minimum: str) -> bool:
    have, need = version_tuple(version), version_tuple(minimum)
    width = max(len(have), len(need))
    return have + (0,) * (width - len(have)) >= need + (0,) * (width - len(need))


def installed_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def package_report(requirement: Requirement, version: str | None) -> dict[str, Any]:
    return {
        "name": requirement.name,
        "minimum": requirement.minimum,
        "version": version,
        "ok": version is not None and meets(version, requirement.minimum),
        "purpose": requirement.purpose,
    }


def fix_command(python: str, packages: list[dict[str, Any]]) -> str | None:
    """The pip command that installs or upgrades every package that is not ok."""
    needed = [f"{p['name']}>={p['minimum']}" for p in packages if not p["ok"]]
    if not needed:
        return None
    return shlex.join([python, "-m", "pip", "install", "--upgrade", *needed])


def device_report() -> dict[str, Any]:
    """CUDA GPUs, MPS and CPU cores; torch problems become an `error` text, never a crash."""
    cores = os.cpu_count() or 1
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    report: dict[str, Any] = {
        "cpu": {"cores": cores, "usable_cores": usable, "machine": platform.machine()},
        "cuda": [],
        "cuda_version": None,
        "mps": False,
        "error": None,
    }
    try:
        import torch
    except Exception as exc:  # a missing or broken install: reported with the packages
        report["error"] = f"torch cannot be imported: {type(exc).__name__}: {exc}"
        return report
    report["cuda_version"] = torch.version.cuda
    try:
        for index in range(torch.cuda.device_count() if torch.cuda.is_available() else 0):
            props = torch.cuda.get_device_properties(index)
            report["cuda"].append(
                {
                    "index": index,
                    "name": props.name,
                    "memory": int(props.total_memory),
                    "capability": f"{props.major}.{props.minor}",
                }
            )
    except Exception as exc:  # a driver mismatch must not hide the rest of the report
        report["error"] = f"CUDA is installed but not usable: {exc}"
    mps = getattr(torch.backends, "mps", None)
    report["mps"] = bool(mps is not None and mps.is_available())
    return report


def check_environment(python: str | None = None) -> dict[str, Any]:
    """The whole report for the interpreter running this function."""
    python = python or sys.executable
    packages = [package_report(r, installed_version(r.name)) for r in REQUIREMENTS]
    python_ok = sys.version_info[:2] >= MIN_PYTHON
    missing = [
        f"{p['name']}>={p['minimum']}"
        + (f" (found {p['version']})" if p["version"] else " (not installed)")
        for p in packages
        if not p["ok"]
    ]
    if not python_ok:
        missing.insert(
            0, f"Python >= {'.'.join(map(str, MIN_PYTHON))} (found {platform.python_version()})"
        )
    torchstudio_dir = os.path.dirname(os.path.abspath(__file__))
    return {
        "ok": python_ok and not missing,
        "python": {
            "version": platform.python_version(),
            "executable": python,
            "minimum": ".".join(map(str, MIN_PYTHON)),
            "ok": python_ok,
        },
        "platform": platform.platform(),
        "torchstudio": torchstudio_dir,
        "packages": packages,
        "devices": device_report(),
        "missing": missing,
        "fix": fix_command(python, packages),
    }


def main() -> None:
    if "--json" in sys.argv[1:]:
        print(json.dumps(check_environment()))
        return
    from torchstudio.worker import Handlers, run_worker

    handlers = Handlers()
    handlers.add("check", lambda value, ctx: check_environment())
    raise SystemExit(run_worker(handlers, "pythoncheck"))


if __name__ == "__main__":
    main()
