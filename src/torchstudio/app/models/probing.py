"""Interpretation of a run and the learning-rate finder: jobs of the app on `modelprobe`.

The interpretation of a run is computed on that run's best weights over the whole
validation split and kept with the run in the project (a blob of kind `interpretation`,
JSON, with the best weights' epoch: when the run's best epoch moves on, it is stale).
The learning-rate range test starts from the built model's initial weights and changes
nothing: its curve stays in memory; "use" writes the suggestion into the optimizer part.
Each change of a job's state is announced as an "actions" change of the model.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torchstudio.app.models.runs import Run
from torchstudio.app.models.service import ModelError, ModelService
from torchstudio.app.runtime.manager import WorkerError, WorkerEvent
from torchstudio.remote.errors import RemoteError

PROBE = "modelprobe"
INTERPRETATION = "interpretation"  # the kind of the run's blob


@dataclass
class Job:
    """A probe job's state as the page shows it."""

    status: str = "idle"  # idle / running / done / stopped / error
    fraction: float = 0.0
    message: str = ""
    run: int | None = None  # the interpreted run


def worker_name(name: str) -> str:
    return f"{PROBE} {name}"


def stored_interpretation(project: Any, name: str, run: int) -> dict[str, Any] | None:
    """Run `run`'s stored interpretation, with the `epoch` of the weights it describes."""
    blob = project.weights(name, INTERPRETATION, run)
    if blob is None:
        return None
    return {**json.loads(blob[1].decode("utf-8")), "epoch": blob[0], "run": run}


class Probes:
    """Interpretations and learning-rate range tests of the project's models."""

    def __init__(self, models: ModelService) -> None:
        self.models = models
        self.jobs: dict[tuple[str, str], Job] = {}  # (model, "interpret" | "lrfind")
        self.curves: dict[str, dict[str, Any]] = {}  # each model's last range test
        self.stored: dict[str, int] = {}  # interpretations stored per model (in page signatures)
        self._unsubscribe = models.pool.manager.subscribe(self._on_event)

    def close(self) -> None:
        self._unsubscribe()

    def job(self, name: str, kind: str) -> Job:
        return self.jobs.setdefault((name, kind), Job())

    def _changed(self, name: str) -> None:
        self.models.project.changes.emit("actions", name)

    def _on_event(self, event: WorkerEvent) -> None:
        name = event.worker.removeprefix(f"{PROBE} ")
        if name == event.worker or event.kind != "progress":
            return
        for kind in ("interpret", "lrfind"):
            job = self.jobs.get((name, kind))
            if job is not None and job.status == "running":
                job.fraction = float(event.data.get("fraction") or 0.0)
                job.message = str(event.data.get("text") or "")
                self._changed(name)

    async def _link(self) -> dict[str, Any]:
        """The dataset's data link for a worker on this machine."""
        dataset = self.models.dataset
        if not dataset.loaded:
            raise ModelError("load the dataset first (Dataset tab, Load): it is not loaded")
        if dataset.server is None:
            return dataset.link
        if self.models.servers is None:
            raise ModelError("the dataset is on a server: no servers here")
        try:
            return await self.models.servers.route_link(dataset.link, dataset.server, None)
        except RemoteError as exc:
            raise ModelError(f"cannot pass the dataset to this machine: {exc}") from exc

    async def _request(
        self, name: str, kind: str, make_request: Callable[[], dict[str, Any]],
        code: str | None = None,
    ) -> Any:  # fmt: skip
        """Build the model if needed, then send `kind` with what `make_request` gives (it
        may use the build's suggestions) to the model's `modelprobe`."""
        job = self.job(name, kind)
        if job.status == "running":
            raise ModelError(f"a {kind} job of {name} is running already")
        job.status, job.fraction, job.message = "running", 0.0, "starting"
        self._changed(name)
        try:
            if not self.models.is_built(name):
                await self.models.build(name)
            worker = await self.models.pool.get(PROBE, worker_name(name))
            built = (
                self.models.built[name]
                if code is None
                else await self.models.built_code(name, code)
            )
            request = {"built": built, "link": await self._link()}
            result = await worker.request(kind, {**request, **make_request()})
        except (ModelError, WorkerError, KeyError, ValueError) as exc:
            stopped = "stopped" in str(exc)
            job.status, job.message = ("stopped" if stopped else "error"), str(exc)
            self._changed(name)
            raise ModelError(str(exc)) from exc
        job.status, job.fraction, job.message = "done", 1.0, ""
        return result

    def interpreted_run(self, name: str, run: int | None = None) -> Run:
        """Run `run` (default: the newest with best weights) if its weights fit what is in use."""
        if run is None:
            return self.models.weights_run(name)[0]
        record = self.models.project.run(name, run)
        if record is None:
            raise ModelError(f"{name} has no run {run}")
        chosen = Run.from_record(record)
        reason = self.models.run_fits(chosen)
        if reason:
            raise ModelError(f"{reason}: its weights do not fit the dataset or code in use")
        return chosen

    async def interpret(self, name: str, run: int | None = None) -> dict[str, Any]:
        """Interpret a run's best weights over the validation split, keep it with the run."""
        chosen = self.interpreted_run(name, run)
        best = self.models.project.weights(name, "best", chosen.number)
        if best is None:
            raise ModelError(f"{chosen.label} of {name} has no best weights yet")
        self.job(name, "interpret").run = chosen.number
        labels = (self.models.dataset.report or {}).get("classes") or []
        request = {"settings": chosen.settings, "weights": best[1], "labels": list(labels)}
        # A sweep trial's run is interpreted with its own form values' model.
        code = self.models.run_code(chosen)
        report = await self._request(name, "interpret", lambda: request, code)
        data = json.dumps(report, separators=(",", ":")).encode("utf-8")
        self.models.project.set_weights(name, chosen.number, INTERPRETATION, best[0], data)
        self.stored[name] = self.stored.get(name, 0) + 1
        self._changed(name)
        return {**report, "epoch": best[0], "run": chosen.number}

    def interpretation(self, name: str, run: int | None = None) -> dict[str, Any] | None:
        """The stored interpretation of `run` (default: the latest run), with `stale` saying
        why it no longer describes the run's best weights, or why those no longer fit the
        dataset or code in use (None: it is current)."""
        record = self.models.project.run(name, run)
        if record is None:
            return None
        number = int(record["number"])
        report = stored_interpretation(self.models.project, name, number)
        if report is None:
            return None
        best = self.models.project.weights_epoch(name, "best", number)
        moved = (
            None
            if best == report["epoch"]
            else f"run {number}'s best weights changed since (epoch {report['epoch']} then)"
        )
        report["stale"] = moved or self.models.run_fits(Run.from_record(record))
        return report

    def interpretable(self, name: str, run: int) -> bool:
        """Whether run `run` has best weights that fit the dataset and code in use."""
        record = self.models.project.run(name, run)
        return (
            record is not None
            and self.models.project.weights_epoch(name, "best", run) is not None
            and self.models.run_fits(Run.from_record(record)) is None
        )

    def missing_line(self, name: str, run: int | None = None) -> str:
        """Why run `run` (default: the latest) shows no interpretation, and what to do."""
        record = self.models.project.run(name, run)
        if record is None:
            return "Train the model first: the interpretation is of a run's best weights."
        chosen = Run.from_record(record)
        if self.models.project.weights_epoch(name, "best", chosen.number) is None:
            return f"{chosen.label} has no best weights yet (it has not finished an epoch)."
        reason = self.models.run_fits(chosen)
        if reason:
            return f"{reason}: its weights do not fit the dataset or code in use."
        return (
            f"{chosen.label} is not interpreted yet: Interpret runs its best weights over the "
            "whole validation split."
        )

    async def find_lr(self, name: str, steps: int | None = None) -> dict[str, Any]:
        """The range test with the model's settings now, from its initial weights."""

        def request() -> dict[str, Any]:  # after the build: its suggested loss is known
            roles = self.models.dataset.definition.roles
            settings = self.models.effective(name).trainer_settings(roles)
            return {"settings": settings, **({"steps": steps} if steps else {})}

        curve = await self._request(name, "lrfind", request)
        self.curves[name] = curve
        self._changed(name)
        return curve

    def use_lr(self, name: str, lr: float) -> str:
        """Set the optimizer part's learning rate (a suggested schedule takes its peak from
        it); returns the error text ('' when set)."""
        return self.models.set_part_value(name, "optimizer", "lr", f"{lr:.3g}")

    async def cancel(self, name: str, kind: str) -> None:
        worker = self.models.pool.running(worker_name(name))
        if worker is not None and self.job(name, kind).status == "running":
            with contextlib.suppress(WorkerError, TimeoutError):
                await worker.request("cancel", timeout=5)

    def spawn(self, coroutine: Any) -> None:
        """Run a job in the app, not in the page (its errors are in its `Job`)."""

        def done(task: asyncio.Task[Any]) -> None:
            with contextlib.suppress(ModelError, asyncio.CancelledError):
                task.result()

        asyncio.ensure_future(coroutine).add_done_callback(done)
