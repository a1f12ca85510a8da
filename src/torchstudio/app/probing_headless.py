"""`torchstudio interpret` and `torchstudio lr-find`: the Model tab's probes without the UI.

Both open the project, load its dataset, build the model and print one JSON object:
the interpretation of a run (kept with the run, as the app keeps it; per-sample lists
left out) or the learning-rate range test (the project is unchanged). Exit codes: 0 done,
1 an error (its text on stderr), 2 a bad command line (no such model or run).
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from torchstudio.app.checked import DocumentError
from torchstudio.app.models.probing import Probes
from torchstudio.app.models.service import ModelError
from torchstudio.app.runtime.manager import WorkerError
from torchstudio.app.store.project import ProjectError
from torchstudio.app.studio import Studio
from torchstudio.probe.interpretation import summary

USAGE_EXIT = 2

Job = Callable[[Probes, str], Awaitable[dict[str, Any]]]


def say(command: str, text: str) -> None:
    print(f"torchstudio {command}: {text}", file=sys.stderr, flush=True)


async def probe_model(command: str, path: Path, model: str, job: Job) -> int:
    studio = Studio()
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
        assert studio.probes is not None
        result = await job(studio.probes, model)
        print(json.dumps(result), flush=True)
        return 0
    except (ProjectError, WorkerError, ModelError, DocumentError) as exc:
        say(command, str(exc))
        return 1
    finally:
        await studio.close()


def interpret_project(path: Path, model: str, run: int | None = None) -> int:
    async def job(probes: Probes, name: str) -> dict[str, Any]:
        report = await probes.interpret(name, run)
        return {"model": name, **summary(report)}

    return asyncio.run(probe_model("interpret", path, model, job))


def lr_find_project(path: Path, model: str, steps: int | None = None) -> int:
    async def job(probes: Probes, name: str) -> dict[str, Any]:
        return {"model": name, **await probes.find_lr(name, steps)}

    return asyncio.run(probe_model("lr-find", path, model, job))
