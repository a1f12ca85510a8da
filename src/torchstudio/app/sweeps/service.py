"""Sweeps of a model in the app: each trial is a new run of the model with the trial's
settings, trained by one of the model's extra trainers (`ModelService.train`, slots 1..P).

The study is `{project}.sweeps.db` beside the project, one study per model (named after
it). The objective is the run's best validation metric when the model has a metric
(maximized; minimized when the metric is an error such as MAE, which `modelprobe` tells
from the metric itself), else its best validation loss (minimized); each epoch's value
feeds the pruner,
and a pruned trial's trainer is asked to stop. State changes are announced as "sweep"
changes of the model.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torchstudio.app.models import overrides as settings_given
from torchstudio.app.models.document import ModelDocument
from torchstudio.app.models.overrides import Override, OverrideError
from torchstudio.app.models.probing import PROBE
from torchstudio.app.models.probing import worker_name as probe_worker
from torchstudio.app.models.service import ModelError, ModelService, trainer_name
from torchstudio.app.runtime.manager import WorkerError
from torchstudio.app.sweeps.engine import (
    Sweep,
    TrialResult,
    open_study,
    require_optuna,
    summary,
    trial_record,
)
from torchstudio.app.sweeps.space import DEFAULT_SPACE, Dimension

STUDY_SUFFIX = ".sweeps.db"


@dataclass
class SweepState:
    """A model's sweep as the pages show it."""

    status: str = "idle"  # idle / running / stopping / finished / stopped / error
    trials: int = 0  # the N asked for
    parallel: int = 1
    message: str = ""
    records: list[dict[str, Any]] = field(default_factory=list)  # trials ended in this sweep
    summary: dict[str, Any] | None = None


def study_path(project_path: Path) -> Path:
    """The sweeps' SQLite file beside the project: `demo.tsproj` -> `demo.sweeps.db`."""
    return project_path.with_name(project_path.stem + STUDY_SUFFIX)


def objective_of(effective: Any, higher: bool | None = True) -> str:
    """ "maximize" (the best validation metric) when the model has a metric whose higher
    values are better, else "minimize" (the metric when it is an error, else the loss)."""
    if not any(code.strip() for code in effective["metric"]):
        return "minimize"
    return "minimize" if higher is False else "maximize"


def uses_metric(effective: Any) -> bool:
    return any(code.strip() for code in effective["metric"])


def settings_of(params: dict[str, Any], origin: str) -> list[Override]:
    return [Override(key, value, origin) for key, value in params.items()]


class SweepService:
    """Runs, stops and reads the sweeps of the project's models."""

    def __init__(self, models: ModelService) -> None:
        self.models = models
        self.states: dict[str, SweepState] = {}
        self.sweeps: dict[str, Sweep] = {}

    @property
    def path(self) -> Path:
        return study_path(self.models.project.path)

    def state(self, name: str) -> SweepState:
        return self.states.setdefault(name, SweepState())

    def _changed(self, name: str) -> None:
        self.models.project.changes.emit("actions", name)

    def running(self, name: str) -> bool:
        return self.state(name).status in ("running", "stopping")

    def results(self, name: str) -> dict[str, Any] | None:
        """The model's study as stored (after a restart too): summary and every trial."""
        if not self.path.exists():
            return None
        try:
            import optuna
        except ImportError:  # the extra is not installed: there is nothing to show
            return None

        try:
            study = optuna.load_study(study_name=name, storage=f"sqlite:///{self.path}")
        except KeyError:
            return None
        space = tuple(Dimension.from_json(d) for d in study.user_attrs.get("space") or [])
        return {
            **summary(study, space),
            "records": [trial_record(t) for t in study.get_trials(deepcopy=False)
                        if t.state.is_finished()],
        }  # fmt: skip

    async def run(
        self,
        name: str,
        trials: int,
        parallel: int = 1,
        space: tuple[Dimension, ...] = DEFAULT_SPACE,
        given: list[Override] | None = None,
        on_trial: Any = None,
        fresh: bool = False,
        prune: bool = True,
    ) -> dict[str, Any]:
        """Run (or go on with) the model's sweep to `trials` trials, `parallel` at a time;
        `given` settings apply to every trial (`--epochs`); `fresh` forgets the model's
        earlier study; without `prune` every trial runs all its epochs. Returns the summary."""
        if self.running(name):
            raise ModelError(f"a sweep of {name} is running already")
        state = self.state(name)
        state.status, state.trials, state.parallel = "running", trials, parallel
        state.records, state.message = [], "starting"
        self._changed(name)
        try:
            result = await self._run(
                name, trials, parallel, space, given or [], on_trial, fresh, prune
            )
        except (ModelError, OverrideError, WorkerError, ValueError) as exc:
            state.status, state.message = "error", str(exc)
            self._changed(name)
            raise ModelError(str(exc)) from exc
        finally:
            self.sweeps.pop(name, None)
        state.summary = result
        state.status = "stopped" if state.status == "stopping" else "finished"
        state.message = f"{result['trials']} trials, {result['pruned']} pruned"
        self._changed(name)
        return result

    async def _run(
        self, name: str, trials: int, parallel: int, space: tuple[Dimension, ...],
        given: list[Override], on_trial: Any, fresh: bool, prune: bool,
    ) -> dict[str, Any]:  # fmt: skip
        models = self.models
        require_optuna()
        if not models.dataset.loaded:
            raise ModelError("load the dataset first (Dataset tab, Load): it is not loaded")
        if not models.is_built(name):
            await models.build(name)
        base = models.document(name)
        # Every trial's settings are checked before the first trains (a bad key, a range
        # outside what the setting takes), with the space's bounds.
        for bound in ("low", "high"):
            values = {d.key: getattr(d, bound) if not d.choices else d.choices[0] for d in space}
            settings_given.apply(
                base, models.dataset.catalog, [*given, *settings_of(values, "the space")]
            )
        direction = objective_of(base.effective(), await self._metric_higher(name, base))
        by_metric = uses_metric(base.effective())
        if fresh and self.path.exists():
            import optuna

            with contextlib.suppress(KeyError):
                optuna.delete_study(study_name=name, storage=f"sqlite:///{self.path}")
        study = await asyncio.to_thread(
            open_study, self.path, name, direction, startup=min(5, max(2, trials // 4)),
            prune=prune,
        )  # fmt: skip
        study.set_user_attr("space", [d.to_json() for d in space])
        sweep = Sweep(study, space, trials, parallel)
        self.sweeps[name] = sweep
        threads = max(1, (os.cpu_count() or 1) // parallel)
        sweep.on_stop.append(lambda slot: self._cancel(name, slot + 1))

        async def train(slot: int, number: int, params: dict[str, Any], report: Any) -> TrialResult:
            document = ModelDocument.from_json(models.project.model(name))
            document = settings_given.apply(
                document, models.dataset.catalog, [*given, *settings_of(params, f"trial {number}")]
            )
            epochs = int(document.effective()["epochs"])

            def on_epoch(record: dict[str, Any]) -> None:
                value = record["valid_metric"] if by_metric else record["valid_loss"]
                self.state(name).message = f"trial {number}: epoch {record['epoch']}"
                self._changed(name)
                if report(int(record["epoch"]), value, int(record["epoch"]) >= epochs):
                    asyncio.ensure_future(self._cancel(name, slot + 1))

            result = await models.train(
                name, on_epoch, settings_from=document, run_name=f"sweep trial {number}",
                slot=slot + 1, threads=threads,
            )  # fmt: skip
            best = result.get("best_metric") if by_metric else result.get("best_loss")
            return TrialResult(best, result.get("run"), int(result.get("epochs_done") or 0))

        def ended(record: dict[str, Any]) -> None:
            self.state(name).records.append(record)
            self._changed(name)
            if on_trial is not None:
                on_trial(record)

        result = await sweep.run(train, ended)
        self.state(name).status = "stopping" if sweep.stopping else "running"
        return result

    async def _metric_higher(self, name: str, document: ModelDocument) -> bool | None:
        """Whether higher values of the model's metric are better (None: it has none)."""
        effective = document.effective()
        if not uses_metric(effective):
            return None
        settings = effective.trainer_settings(self.models.dataset.definition.roles)
        worker = await self.models.pool.get(PROBE, probe_worker(name))
        answer = await worker.request("metric", {"settings": settings})
        return answer.get("higher")

    async def _cancel(self, name: str, slot: int) -> None:
        worker = self.models.pool.running(trainer_name(name, slot))
        if worker is not None:
            with contextlib.suppress(WorkerError, TimeoutError):
                await worker.request("cancel", timeout=5)

    async def stop(self, name: str) -> None:
        """End the sweep: no new trial; running ones stop and are proposed again on resume."""
        sweep = self.sweeps.get(name)
        if sweep is None:
            return
        self.state(name).status = "stopping"
        self._changed(name)
        await sweep.stop()

    def adopt(self, name: str, params: dict[str, Any]) -> None:
        """Make a trial's settings the model's own (stored)."""
        models = self.models
        with models.project.transaction():
            document = settings_given.apply(
                models.document(name), models.dataset.catalog, settings_of(params, "the trial")
            )
            models.project.set_model(name, document.to_json())
