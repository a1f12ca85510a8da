"""A sweep: N trials, P at a time, TPE proposing settings, a median pruner stopping bad ones.

The study lives in its own SQLite file (Optuna's storage) beside the project, so the
project's writes never wait for it; a sweep started again with the same study name goes
on where it stopped: finished and pruned trials stay, trials cut short by a stop or a
crash are proposed again first. Training a trial is the caller's `TrainTrial` (the app
trains a run of the model; tests pass a function): it reports each epoch's value through
its `Reporter`, which answers whether to prune.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torchstudio.app.sweeps.space import Dimension

INTERRUPTED = "interrupted"  # the user attribute of a trial cut short: proposed again


@dataclass
class TrialResult:
    """What training a trial gave: its value (None: it failed), and the run it made."""

    value: float | None
    run: int | None = None
    epochs: int = 0
    error: str | None = None


Reporter = Callable[..., bool]  # (epoch, value, final=False) -> prune now? (never at the end)
TrainTrial = Callable[[int, int, dict[str, Any], Reporter], Awaitable[TrialResult]]
# (slot, trial number, settings, reporter): slot 0..P-1 says which trainer trains it.


def require_optuna() -> None:
    """ValueError with how to install Optuna when it is missing (an optional extra)."""
    try:
        import optuna  # noqa: F401
    except ImportError:
        raise ValueError(
            "sweeps need Optuna, which is not installed: pip install 'torchstudio[sweep]'"
        ) from None


def open_study(
    path: Path, name: str, direction: str, seed: int = 0, startup: int = 5, prune: bool = True
) -> Any:
    """The study `name` in the SQLite file `path` (made if needed), TPE and median pruning
    (none without `prune`)."""
    require_optuna()
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = optuna.storages.RDBStorage(
        f"sqlite:///{path}", engine_kwargs={"connect_args": {"timeout": 30}}
    )
    return optuna.create_study(
        study_name=name,
        storage=storage,
        direction=direction,
        load_if_exists=True,
        sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=startup, n_warmup_steps=1)
        if prune
        else optuna.pruners.NopPruner(),
    )


def trial_record(trial: Any) -> dict[str, Any]:
    """One trial as the pages and `torchstudio sweep` show it."""
    return {
        "trial": trial.number,
        "state": trial.state.name.lower(),
        "params": dict(trial.params),
        "value": trial.value,
        "run": trial.user_attrs.get("run"),
        "epochs": len(trial.intermediate_values),
        "error": trial.user_attrs.get("error"),
    }


def finished_count(study: Any) -> int:
    """Trials that count towards the sweep's N: done, pruned, or failed on their own."""
    from optuna.trial import TrialState

    return sum(
        1
        for t in study.get_trials(deepcopy=False)
        if t.state in (TrialState.COMPLETE, TrialState.PRUNED)
        or (t.state == TrialState.FAIL and not t.user_attrs.get(INTERRUPTED))
    )


def requeue_interrupted(study: Any) -> None:
    """Trials left running by a crash are failed, and their settings proposed again."""
    from optuna.trial import TrialState

    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        study._storage.set_trial_user_attr(trial._trial_id, INTERRUPTED, True)
        study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
        study.enqueue_trial(dict(trial.params), skip_if_exists=False)


def summary(study: Any, space: tuple[Dimension, ...]) -> dict[str, Any]:
    """The best trial, every trial, and each setting's importance (when it can be judged)."""
    import optuna
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    best = study.best_trial if complete else None
    importances: dict[str, float] = {}
    if len(complete) >= 2 and len(space) > 1:
        with contextlib.suppress(RuntimeError, ValueError, ZeroDivisionError):
            importances = {
                k: round(float(v), 4)
                for k, v in optuna.importance.get_param_importances(study).items()
            }
    return {
        "study": study.study_name,
        "direction": study.direction.name.lower(),
        "trials": finished_count(study),
        "complete": len(complete),
        "pruned": sum(t.state == TrialState.PRUNED for t in trials),
        "failed": sum(
            t.state == TrialState.FAIL and not t.user_attrs.get(INTERRUPTED) for t in trials
        ),
        "best": trial_record(best) if best is not None else None,
        "importances": importances,
        "space": [d.to_json() for d in space],
    }


class Sweep:
    """Runs the trials of one study; `stop()` ends it (running trials are cut short)."""

    def __init__(
        self, study: Any, space: tuple[Dimension, ...], trials: int, parallel: int
    ) -> None:
        if trials < 1 or parallel < 1:
            raise ValueError(f"trials and parallel must be at least 1, not {trials} and {parallel}")
        self.study, self.space = study, space
        self.trials, self.parallel = trials, parallel
        self.distributions = {d.key: d.distribution() for d in space}
        self.stopping = False
        self.running: dict[int, Any] = {}  # slot -> trial
        self.on_stop: list[Callable[[int], Awaitable[None]]] = []  # (slot): cut it short

    async def stop(self) -> None:
        self.stopping = True
        await asyncio.gather(*(cut(slot) for slot in self.running for cut in self.on_stop))

    async def run(
        self, train: TrainTrial, on_trial: Callable[[dict[str, Any]], None] = lambda r: None
    ) -> dict[str, Any]:
        requeue_interrupted(self.study)
        left = [max(0, self.trials - finished_count(self.study))]

        async def worker(slot: int) -> None:
            while not self.stopping and left[0] > 0:
                left[0] -= 1
                record = await self._one(slot, train)
                on_trial(record)

        await asyncio.gather(*(worker(slot) for slot in range(self.parallel)))
        return summary(self.study, self.space)

    async def _one(self, slot: int, train: TrainTrial) -> dict[str, Any]:
        from optuna.trial import TrialState

        trial = self.study.ask(self.distributions)
        self.running[slot] = trial
        pruned = [False]

        def report(epoch: int, value: float, final: bool = False) -> bool:
            """Record an epoch's value; whether to stop the trial now (not after its last
            epoch: stopping then saves nothing, and the trial is complete)."""
            if value is None or not math.isfinite(value):
                return False
            trial.report(float(value), epoch)
            pruned[0] = pruned[0] or (not final and trial.should_prune())
            return pruned[0]

        try:
            result = await train(slot, trial.number, dict(trial.params), report)
        except Exception as exc:  # the trial fails; the sweep goes on
            result = TrialResult(None, error=str(exc))
        finally:
            self.running.pop(slot, None)
        if result.run is not None:
            trial.set_user_attr("run", result.run)
        if result.error:
            trial.set_user_attr("error", result.error)
        if self.stopping and not pruned[0] and result.error is None:
            trial.set_user_attr(INTERRUPTED, True)  # proposed again when the sweep resumes
            self.study.tell(trial, state=TrialState.FAIL)
            self.study.enqueue_trial(dict(trial.params), skip_if_exists=False)
        elif pruned[0]:
            self.study.tell(trial, state=TrialState.PRUNED)
        elif result.value is None or not math.isfinite(result.value):
            self.study.tell(trial, state=TrialState.FAIL)
        else:
            self.study.tell(trial, result.value)
        return trial_record(self.study.get_trials(deepcopy=False)[trial.number])
