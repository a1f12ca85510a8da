"""`torchstudio run`: load, build and train a project's models without the UI.

Uses the same services as the app; each model's training is a new run of it (or, with
`--resume`, its last run goes on). Settings given with `--config` and `--set` apply to this
run only, through the model's typed document (overrides.py). Prints one JSON line per
epoch and one summary line (both with the run number; fields in docs/run.md and
docs/run.schema.json), and keeps every result in the project. On stderr, one line per
problem: a worker that stops responding (as the app shows it, after
TORCHSTUDIO_STALL_SECONDS) and again when it recovers.
Exit codes: 0 done, 1 an error (its text), 2 a bad command line (no such model, a setting
refused: its key, value and where it was given), 124 `--timeout` reached, 130 interrupted
(Ctrl-C); the last two stop the workers first.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torchstudio.app.checked import DocumentError
from torchstudio.app.models import overrides as settings_given
from torchstudio.app.models.document import ModelDocument
from torchstudio.app.models.overrides import Override, OverrideError
from torchstudio.app.models.service import ModelError, ModelService
from torchstudio.app.models.trackers import check_available
from torchstudio.app.runtime.manager import WorkerError, WorkerEvent
from torchstudio.app.store.project import ProjectError
from torchstudio.app.studio import Studio, open_checked
from torchstudio.priority import headless_env

USAGE_EXIT = 2
TIMEOUT_EXIT = 124
INTERRUPTED_EXIT = 130
# The fields of an epoch line after "model": the trainer's epoch record's (docs/run.md).
EPOCH_FIELDS = (
    "run",
    "epoch",
    "train_loss",
    "valid_loss",
    "train_metric",
    "valid_metric",
    "lr",
    "seconds",
)


@dataclass(frozen=True)
class RunOptions:
    """What `torchstudio run` was asked: which models (None: all), the settings given
    (the config file's, then each --set, in order), whether to resume, the run's name."""

    models: list[str] | None = None
    settings: list[Override] = field(default_factory=list)
    resume: bool = False
    run_name: str | None = None
    timeout: float | None = None


@dataclass
class Stage:
    """What the run is doing: the line saying where it was stopped names it."""

    now: str = "starting"


def emit(record: dict[str, Any]) -> None:
    print(json.dumps(record), flush=True)


def say(text: str) -> None:
    print(f"torchstudio run: {text}", file=sys.stderr, flush=True)


# Trainer notes said on stderr: the compile choice and when the first batch ran.
TRAINER_NOTES = ("compile: ", "first batch after ")


def report_stalls(event: WorkerEvent) -> None:
    """A worker stuck in user code (an endless loop) is reported as the app shows it; the
    trainer's notes (TRAINER_NOTES) are said too."""
    if event.kind in ("unresponsive", "responding"):
        say(f"worker {event.worker} {event.data.get('text', event.kind)}")
    elif event.kind == "progress" and str(event.data.get("text")).startswith(TRAINER_NOTES):
        say(f"worker {event.worker}: {event.data['text']}")


async def run_models(path: Path, options: RunOptions) -> int:
    """Run the project's models; on `--timeout` seconds or Ctrl-C, stop the workers and say so."""
    if options.resume:
        try:
            settings_given.check_resumable(options.settings)
        except OverrideError as exc:
            say(str(exc))
            return USAGE_EXIT
    studio = Studio(env=headless_env())  # trainers at the normal priority: no pages here
    unsubscribe = studio.manager.subscribe(report_stalls)
    loop = asyncio.get_running_loop()
    interrupted = asyncio.Event()
    with contextlib.suppress(NotImplementedError, RuntimeError):  # not in the main thread
        loop.add_signal_handler(signal.SIGINT, interrupted.set)
    stage = Stage()
    work = asyncio.ensure_future(_work(studio, path, options, stage))
    waiter = asyncio.ensure_future(interrupted.wait())
    timeout = options.timeout
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


async def _work(studio: Studio, path: Path, options: RunOptions, stage: Stage) -> int:
    try:
        stage.now = "opening the project"
        # A file that cannot be used is refused before the studio starts its fork server
        # (seconds of imports for nothing); opening twice costs milliseconds.
        await asyncio.to_thread(lambda: open_checked(path).close())
        await studio.start()
        await studio.open(path)
        for notice in studio.project.notices if studio.project else []:
            say(notice)  # what opening had to repair in the file
        assert studio.project is not None and studio.dataset is not None
        names = options.models or studio.project.model_names()
        missing = [n for n in names if n not in studio.project.model_names()]
        if missing or not names:
            known = ", ".join(studio.project.model_names()) or "none"
            say(f"no model {missing or ''} (models: {known})")
            return USAGE_EXIT
        # The settings are checked before anything loads (the values), then, once each model
        # is built (its optimizer and scheduler modules known), all of them, before any trains.
        values = [o for o in options.settings if o.key in settings_given.VALUE_SETTINGS]
        placed = _settings_apply(studio, names, values)
        if not placed:
            return USAGE_EXIT
        service = ModelService(studio.project, studio.pool, studio.dataset)
        start_workers(service, placed)
        stage.now = "loading the dataset"
        if not await studio.dataset.load():
            if studio.dataset.status == "cancelled":  # Ctrl-C or --timeout: said above
                return INTERRUPTED_EXIT
            reason = studio.dataset.error or studio.dataset.message
            say(f"the dataset did not load:\n{reason}")
            return 1
        for name in names:
            stage.now = f"building model {name!r}"
            if not service.is_built(name):
                try:
                    await service.build(name)
                except (ModelError, WorkerError) as exc:  # which of the models, then why
                    say(f"model {name!r} did not build:\n{exc}")
                    return 1
        documents = _settings_apply(studio, names, options.settings)
        if not documents:
            return USAGE_EXIT
        summary = []
        for name in names:
            stage.now = f"training model {name!r}"
            started = time.perf_counter()
            previous = service.latest_run(name) if options.resume else None
            run_name = options.run_name or (previous.name if previous is not None else None)

            def on_epoch(record: dict[str, Any], name: str = name, named: Any = run_name) -> None:
                emit({"model": name, **{k: record.get(k) for k in EPOCH_FIELDS}, "run_name": named})

            result = await service.train(
                name,
                on_epoch,
                resume=options.resume,
                settings_from=documents[name],
                run_name=options.run_name,
            )
            for error in result.get("mirror_errors") or []:
                say(f"model {name}: mirroring stopped: {error}")
            summary.append(
                {
                    "model": name,
                    "run": result.get("run"),
                    "run_name": run_name,
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


def start_workers(service: ModelService, documents: dict[str, ModelDocument]) -> None:
    """Start each model's builder and (when it trains on this machine) trainer now: their
    processes and imports (seconds each) overlap the dataset's load. The build and the
    training then find them running (the pool starts one worker per name)."""
    starts = [service.pool.get("modelbuild", f"modelbuild {name}") for name in documents]
    starts += [
        service.trainer(name, None)
        for name, document in documents.items()
        if document.settings.server is None
    ]
    for start in starts:
        task = asyncio.ensure_future(start)
        # A start that fails is tried again, and reported, when the build or training asks.
        task.add_done_callback(lambda done: done.cancelled() or done.exception())


def _settings_apply(
    studio: Studio, names: list[str], given: list[Override]
) -> dict[str, ModelDocument] | None:
    """Each model's document with the settings `given` (not stored); None when one is
    refused (said on stderr)."""
    assert studio.project is not None and studio.dataset is not None
    documents = {}
    for name in names:
        document = ModelDocument.from_json(studio.project.model(name))
        try:
            documents[name] = settings_given.apply(document, studio.dataset.catalog, given)
            # A log target whose package is missing is refused now, with how to install it.
            check_available(documents[name].effective()["log"])
        except (OverrideError, ValueError) as exc:
            say(f"model {name}: {exc}")
            return None
    return documents


def run_project(path: Path, options: RunOptions) -> int:
    return asyncio.run(run_models(path, options))
