"""`torchstudio run`: load, build and train a project's models without the UI.

Uses the same services as the app; each model's training is a new run of it. Prints one
JSON line per epoch and one summary line (both with the run number), and keeps every
result in the project. On stderr, one line per problem: a worker that stops responding
(as the app shows it, after TORCHSTUDIO_STALL_SECONDS) and again when it recovers.
Exit codes: 0 done, 1 an error (its text), 2 no such model, 124 `--timeout` reached,
130 interrupted (Ctrl-C); the last two stop the workers first.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torchstudio.app.checked import DocumentError
from torchstudio.app.models.service import ModelError, ModelService
from torchstudio.app.runtime.manager import WorkerError, WorkerEvent
from torchstudio.app.store.project import ProjectError
from torchstudio.app.studio import Studio

TIMEOUT_EXIT = 124
INTERRUPTED_EXIT = 130


@dataclass
class Stage:
    """What the run is doing: the line saying where it was stopped names it."""

    now: str = "starting"


def emit(record: dict[str, Any]) -> None:
    print(json.dumps(record), flush=True)


def say(text: str) -> None:
    print(f"torchstudio run: {text}", file=sys.stderr, flush=True)


def report_stalls(event: WorkerEvent) -> None:
    """A worker stuck in user code (an endless loop) is reported as the app shows it."""
    if event.kind in ("unresponsive", "responding"):
        say(f"worker {event.worker} {event.data.get('text', event.kind)}")


async def run_models(
    path: Path,
    models: list[str] | None,
    epochs: int | None,
    device: str | None,
    timeout: float | None = None,
) -> int:
    """Run the project's models; on `timeout` seconds or Ctrl-C, stop the workers and say so."""
    studio = Studio()
    unsubscribe = studio.manager.subscribe(report_stalls)
    loop = asyncio.get_running_loop()
    interrupted = asyncio.Event()
    with contextlib.suppress(NotImplementedError, RuntimeError):  # not in the main thread
        loop.add_signal_handler(signal.SIGINT, interrupted.set)
    stage = Stage()
    work = asyncio.ensure_future(_work(studio, path, models, epochs, device, stage))
    waiter = asyncio.ensure_future(interrupted.wait())
    try:
        done, _ = await asyncio.wait(
            {work, waiter}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if work in done and not interrupted.is_set():
            return work.result()
        if interrupted.is_set():
            say(f"interrupted (Ctrl-C) while {stage.now}: stopping the workers")
        else:
            say(f"stopped: --timeout of {timeout:g} s reached while {stage.now}")
        work.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await work
        return INTERRUPTED_EXIT if interrupted.is_set() else TIMEOUT_EXIT
    finally:
        waiter.cancel()
        unsubscribe()
        await studio.close()  # stops every worker: terminated, then killed if need be
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.remove_signal_handler(signal.SIGINT)


async def _work(
    studio: Studio,
    path: Path,
    models: list[str] | None,
    epochs: int | None,
    device: str | None,
    stage: Stage,
) -> int:
    try:
        await studio.start()
        stage.now = "opening the project"
        await studio.open(path)
        for notice in studio.project.notices if studio.project else []:
            say(notice)  # what opening had to repair in the file
        assert studio.project is not None and studio.dataset is not None
        names = models or studio.project.model_names()
        missing = [n for n in names if n not in studio.project.model_names()]
        if missing or not names:
            known = ", ".join(studio.project.model_names()) or "none"
            print(f"torchstudio run: no model {missing or ''} (models: {known})", file=sys.stderr)
            return 2
        stage.now = "loading the dataset"
        if not await studio.dataset.load():
            if studio.dataset.status == "cancelled":  # Ctrl-C or --timeout: said above
                return INTERRUPTED_EXIT
            reason = studio.dataset.error or studio.dataset.message
            print(f"torchstudio run: the dataset did not load:\n{reason}", file=sys.stderr)
            return 1
        service = ModelService(studio.project, studio.pool, studio.dataset)
        summary = []
        for name in names:
            stage.now = f"training model {name!r}"
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
    except (ProjectError, WorkerError, ModelError, DocumentError, KeyError) as exc:
        say(str(exc))
        return 1


def run_project(
    path: Path,
    models: list[str] | None,
    epochs: int | None,
    device: str | None,
    timeout: float | None = None,
) -> int:
    return asyncio.run(run_models(path, models, epochs, device, timeout))
