"""`torchstudio run`: load, build and train a project's models without the UI.

Uses the same services as the app; each model's training is a new run of it. Prints one
JSON line per epoch and one summary line (both with the run number), and keeps every
result in the project. Exit code 1 with the error text on failure.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from torchstudio.app.models.service import ModelError, ModelService
from torchstudio.app.runtime.manager import WorkerError
from torchstudio.app.store.project import ProjectError
from torchstudio.app.studio import Studio


def emit(record: dict[str, Any]) -> None:
    print(json.dumps(record), flush=True)


async def run_models(
    path: Path, models: list[str] | None, epochs: int | None, device: str | None
) -> int:
    studio = Studio()
    await studio.start()
    try:
        await studio.open(path)
        assert studio.project is not None and studio.dataset is not None
        names = models or studio.project.model_names()
        missing = [n for n in names if n not in studio.project.model_names()]
        if missing or not names:
            known = ", ".join(studio.project.model_names()) or "none"
            print(f"torchstudio run: no model {missing or ''} (models: {known})", file=sys.stderr)
            return 2
        if not await studio.dataset.load():
            print(
                f"torchstudio run: the dataset did not load:\n{studio.dataset.error}",
                file=sys.stderr,
            )
            return 1
        service = ModelService(studio.project, studio.pool, studio.dataset)
        summary = []
        for name in names:
            started = time.perf_counter()

            def on_epoch(record: dict[str, Any], name: str = name) -> None:
                emit(
                    {
                        "model": name,
                        **{
                            k: record.get(k)
                            for k in (
                                "run",
                                "epoch",
                                "train_loss",
                                "valid_loss",
                                "train_metric",
                                "valid_metric",
                                "lr",
                                "seconds",
                            )
                        },
                    }
                )

            result = await service.train(name, on_epoch, epochs=epochs, device=device)
            summary.append(
                {
                    "model": name,
                    "run": result.get("run"),
                    "epochs": result.get("epochs_done"),
                    "best_epoch": result.get("best_epoch"),
                    "best_metric": result.get("best_metric"),
                    "best_loss": result.get("best_loss"),
                    "reason": result.get("reason"),
                    "seconds": round(time.perf_counter() - started, 3),
                }
            )
        emit({"summary": summary, "project": str(studio.project.path)})
        return 0
    except (ProjectError, WorkerError, ModelError, KeyError) as exc:
        print(f"torchstudio run: {exc}", file=sys.stderr)
        return 1
    finally:
        await studio.close()


def run_project(
    path: Path, models: list[str] | None, epochs: int | None, device: str | None
) -> int:
    return asyncio.run(run_models(path, models, epochs, device))
