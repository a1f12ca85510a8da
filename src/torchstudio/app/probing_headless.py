"""`torchstudio interpret`, `lr-find` and `sweep`: the Model tab's probes without the UI.

Each opens the project, loads its dataset, builds the model and prints JSON: the
interpretation of a run (kept with the run, as the app keeps it; per-sample lists left
out), the learning-rate range test (the project is unchanged), or one line per trial of a
sweep and a summary line. Exit codes: 0 done, 1 an error (its text on stderr), 2 a bad
command line (no such model, a bad search space).
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from torchstudio.app.checked import DocumentError
from torchstudio.app.models.overrides import Override, OverrideError
from torchstudio.app.models.service import ModelError
from torchstudio.app.runtime.manager import WorkerError
from torchstudio.app.store.project import ProjectError
from torchstudio.app.studio import Studio
from torchstudio.app.sweeps.space import Dimension
from torchstudio.priority import headless_env
from torchstudio.probe.interpretation import summary

USAGE_EXIT = 2

Job = Callable[[Studio, str], Awaitable[dict[str, Any]]]


def say(command: str, text: str) -> None:
    print(f"torchstudio {command}: {text}", file=sys.stderr, flush=True)


async def probe_model(command: str, path: Path, model: str, job: Job) -> int:
    studio = Studio(env=headless_env())  # its trainer at the normal priority: no pages
    try:
        await studio.start()
        await studio.open(path)
        assert studio.project is not None and studio.dataset is not None
        if model not in studio.project.model_names():
            known = ", ".join(studio.project.model_names()) or "none"
            say(command, f"no model {model!r} (models: {known})")
            return USAGE_EXIT
        if not await studio.dataset.load():
            say(
                command,
                f"the dataset did not load:\n{studio.dataset.error or studio.dataset.message}",
            )
            return 1
        result = await job(studio, model)
        print(json.dumps(result), flush=True)
        return 0
    except OverrideError as exc:  # a setting of the space or --epochs refused
        say(command, str(exc))
        return USAGE_EXIT
    except (ProjectError, WorkerError, ModelError, DocumentError) as exc:
        say(command, str(exc))
        return 1
    finally:
        await studio.close()


def interpret_project(path: Path, model: str, run: int | None = None) -> int:
    async def job(studio: Studio, name: str) -> dict[str, Any]:
        assert studio.probes is not None
        report = await studio.probes.interpret(name, run)
        return {"model": name, **summary(report)}

    return asyncio.run(probe_model("interpret", path, model, job))


def lr_find_project(path: Path, model: str, steps: int | None = None) -> int:
    async def job(studio: Studio, name: str) -> dict[str, Any]:
        assert studio.probes is not None
        return {"model": name, **await studio.probes.find_lr(name, steps)}

    return asyncio.run(probe_model("lr-find", path, model, job))


def sweep_project(
    path: Path, model: str, trials: int, parallel: int, space: tuple[Dimension, ...],
    given: list[Override], fresh: bool = False,
) -> int:  # fmt: skip
    async def job(studio: Studio, name: str) -> dict[str, Any]:
        assert studio.sweeps is not None

        def line(record: dict[str, Any]) -> None:
            print(json.dumps({"model": name, **record}), flush=True)

        result = await studio.sweeps.run(name, trials, parallel, space, given, line, fresh)
        return {"summary": result, "study": str(studio.sweeps.path)}

    return asyncio.run(probe_model("sweep", path, model, job))
