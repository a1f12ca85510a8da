"""Trainings that live in the app, not in a page: start, stop, resume, one `modeltrain` each.

Each training is an asyncio task of the app; closing the browser tab does not touch it, and
every page shows its state (`TrainingService.runs`) the next time it looks. Epochs, the best
weights and the last checkpoint go to the project as they arrive (through `ModelService`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

from torchstudio.app.models.service import ModelError, ModelService
from torchstudio.app.models.views import headline
from torchstudio.app.runtime.manager import WorkerError, WorkerEvent
from torchstudio.app.store.logbook import last_line
from torchstudio.app.store.project import ProjectError

NOT_RESPONDING = "not responding"
CONNECTION_LOST = "connection lost"
STOP_GRACE_SECONDS = 10.0  # for the current batch to end after a stop request


@dataclass
class Progress:
    """What a page shows about one model's training now (the stored record is `runs.Run`)."""

    # idle / starting / training / not responding / stopped / finished / error / connection lost
    status: str = "idle"
    epoch: int = 0
    first_epoch: int = 0  # where this run started (a resumed one starts at its checkpoint)
    epochs: int = 0
    fraction: float = 0.0  # of the whole training, from the worker's progress
    samples_per_s: float | None = None
    seconds_left: float | None = None
    message: str = ""
    error: str | None = None
    started: float = field(default_factory=time.monotonic)
    seconds: float = 0.0  # training time of this run so far
    run: int | None = None  # the project's run number, once its first epoch arrived


class TrainingService:
    """Starts and stops the project's trainings; each change is announced ("training")."""

    def __init__(self, models: ModelService) -> None:
        self.models = models
        self.stop_grace = STOP_GRACE_SECONDS
        self.runs: dict[str, Progress] = {}
        self.tasks: dict[str, asyncio.Task[Any]] = {}
        self._unsubscribe = models.pool.manager.subscribe(self._on_event)
        project = models.project
        for name in project.model_names():  # the app ended mid-training: it can be resumed
            if project.model(name).get("status") == "training":
                project.update_model(name, status="stopped")
            latest = project.run(name)
            if latest is not None and latest["status"] == "training":
                project.update_run(name, latest["number"], status="stopped")

    def close(self) -> None:
        self._unsubscribe()

    def run(self, name: str) -> Progress:
        return self.runs.setdefault(name, Progress())

    def running(self, name: str) -> bool:
        task = self.tasks.get(name)
        return task is not None and not task.done()

    def _changed(self, name: str) -> None:
        self.models.project.changes.emit("training", name)

    def _on_event(self, event: WorkerEvent) -> None:
        name = event.worker.removeprefix("modeltrain ")
        if name == event.worker or name not in self.runs:
            return
        run = self.runs[name]
        if event.kind in ("unresponsive", "responding"):
            self._on_responsiveness(name, run, event)
            return
        if event.kind != "progress":
            return
        run.fraction = float(event.data.get("fraction") or 0.0)
        run.message = str(event.data.get("text") or "")
        self._changed(name)

    def _on_epoch(self, name: str, record: dict[str, Any]) -> None:
        run = self.run(name)
        run.epoch, run.run = int(record["epoch"]), record.get("run")
        run.samples_per_s = record.get("samples_per_s")
        run.seconds = time.monotonic() - run.started
        done_here = max(1, run.epoch - run.first_epoch)
        left = max(0, run.epochs - run.epoch)
        run.seconds_left = run.seconds / done_here * left
        run.fraction = run.epoch / max(1, run.epochs)
        run.message = f"epoch {run.epoch}/{run.epochs}"
        self._changed(name)

    # ------------------------------------------------------------------ start and stop

    def start(self, name: str, resume: bool = False, **overrides: Any) -> asyncio.Task[Any]:
        """Start a model's training in the background: a new run, or with `resume` its latest
        run from that run's own checkpoint (an error saying so when it has none)."""
        if self.running(name):
            return self.tasks[name]
        epochs = overrides.get("epochs") or self.models.effective(name)["epochs"]
        checkpoint = self.models.project.weights(name, "checkpoint") if resume else None
        first = checkpoint[0] if checkpoint else 0
        run = Progress("starting", first, first, int(epochs), message="starting")
        self.runs[name] = run
        self._changed(name)
        self.models.log(f"{'resuming' if resume else 'training'} {name} ({epochs} epochs)")
        task = asyncio.ensure_future(self._train(name, resume, overrides))
        self.tasks[name] = task
        return task

    async def _train(self, name: str, resume: bool, overrides: dict[str, Any]) -> None:
        run = self.runs[name]
        try:
            run.status = "training"
            self._changed(name)
            result = await self.models.train(
                name, lambda r: self._on_epoch(name, r), resume=resume, **overrides
            )
        except (ModelError, ProjectError, WorkerError, KeyError, ValueError) as exc:
            self.models.log(f"training of {name} failed: {last_line(str(exc))}")
            server = self.lost_server(name)
            if server is not None:
                run.status, run.error, run.seconds_left = CONNECTION_LOST, None, None
                run.message = (
                    f"the SSH connection to server {server} dropped: Reconnect, then Resume "
                    "goes on from the last checkpoint"
                )
                self.models.project.update_model(name, status="stopped")
            else:
                run.status, run.error, run.message = "error", str(exc), str(exc)
            self._changed(name)
            return
        reason = str(result.get("reason") or "finished")
        run.status = "stopped" if reason.startswith("stopped") else "finished"
        run.message = reason
        run.epoch = int(result.get("epochs_done") or run.epoch)
        run.run = result.get("run", run.run)
        run.seconds_left = 0.0 if run.status == "finished" else None
        self.models.project.update_model(name, status=run.status)
        self._changed(name)
        epochs = self.models.project.epochs(name, run.run) if run.run else []
        self.models.log(f"{name} run {run.run} {reason}: {headline(epochs)}")

    def lost_server(self, name: str) -> str | None:
        """The server of the model's trainer when its SSH connection is gone (None: it is not)."""
        server = self.models.placed.get(name)
        servers = self.models.servers
        if server is None or servers is None or servers.connected(server):
            return None
        return server

    def _on_responsiveness(self, name: str, run: Progress, event: WorkerEvent) -> None:
        """A trainer stuck in user code shows as 'not responding' until it moves or is stopped."""
        if event.kind == "unresponsive" and run.status == "training":
            run.status, run.message = NOT_RESPONDING, str(event.data["text"])
        elif event.kind == "responding" and run.status == NOT_RESPONDING:
            run.status, run.message = "training", "responding again"
        else:
            return
        self._changed(name)

    async def stop(self, name: str) -> None:
        """Ask the trainer to stop after its current batch; the epochs done stay.

        A trainer that does not honour it within `stop_grace` seconds (2 when it is already
        not responding: user code in an endless loop) is ended: stop, terminate, kill.
        """
        worker = self.models.pool.running(f"modeltrain {name}")
        if worker is None or not self.running(name):
            return
        with contextlib.suppress(WorkerError, TimeoutError):
            await worker.request("cancel", timeout=5)
        task = self.tasks[name]
        grace = self.stop_grace if worker.responding else min(2.0, self.stop_grace)
        done, _ = await asyncio.wait({task}, timeout=grace)
        if done:
            return
        ended = await worker.stop(timeout=2)
        await asyncio.wait({task}, timeout=10)  # it ends with the worker
        run = self.run(name)
        run.status, run.error = "stopped", None
        run.message = (
            "stopped: the trainer did not answer the stop request and was ended "
            f"({ended.get('text', 'ended')}); the epochs done are kept"
        )
        run.seconds_left = None
        project = self.models.project
        with project.transaction():
            project.update_model(name, status="stopped")
            latest = project.run(name)
            if latest is not None:
                project.update_run(name, latest["number"], status="stopped")
        self._changed(name)

    def start_all(self) -> list[str]:
        """Start every model neither training nor finished; resume those with a checkpoint."""
        started = []
        for name in self.models.project.model_names():
            if self.running(name):
                continue
            checkpoint = self.models.project.weights(name, "checkpoint")
            epochs = int(self.models.effective(name)["epochs"])
            if checkpoint is not None and checkpoint[0] >= epochs:
                continue  # finished: its Train button trains it again
            self.start(name, resume=checkpoint is not None)
            started.append(name)
        return started

    async def stop_all(self) -> None:
        await asyncio.gather(*(self.stop(name) for name in list(self.tasks)))

    async def wait(self, name: str) -> Progress:
        task = self.tasks.get(name)
        if task is not None:
            await task
        return self.run(name)
