"""Epoch after epoch: passes, records, best weights, checkpoints, early stop. One loop for all.

The single-process trainer and every rank of a distributed job run `run_epochs`; only the
reporting rank (rank 0, or the only process) has a `send` and packs weights and checkpoints.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from torchstudio.model.package import state_dict_bytes
from torchstudio.savequeue import BackgroundSaver, InlineSaver
from torchstudio.train import state as checkpoints
from torchstudio.train.batches import BatchSource
from torchstudio.train.device import Precision
from torchstudio.train.loop import (
    Cancelled,
    PassResult,
    PassSync,
    TrainingError,
    TrainingParts,
    run_pass,
)
from torchstudio.train.saver import snapshot
from torchstudio.train.settings import TrainSettings

Send = Callable[[str, Any], None]


@dataclass
class Best:
    epoch: int
    metric: float | None
    loss: float


def is_better(metric: float | None, loss: float, best: Best | None, higher: bool = True) -> bool:
    """The best validation metric wins (the highest; the lowest when not `higher`: an
    error such as MAE); ties (or no metric) go to the lower validation loss."""
    if best is None:
        return True
    if metric is not None and best.metric is not None and metric != best.metric:
        return metric > best.metric if higher else metric < best.metric
    return loss < best.loss


@dataclass
class RunState:
    """What a checkpoint restores besides the model and optimizer."""

    epoch: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    best: Best | None = None
    stale_epochs: int = 0  # epochs since the best one, for early stopping


@dataclass
class EpochJob:
    """Everything one process trains with."""

    parts: TrainingParts
    train_source: BatchSource
    valid_source: BatchSource
    settings: TrainSettings
    device: torch.device
    precision: Precision
    generator: torch.Generator
    sync: PassSync | None = None  # cross-rank sums (distributed jobs)
    extra: dict[str, Any] = field(default_factory=dict)  # added to every epoch record


def unwrap(model: nn.Module) -> nn.Module:
    """The user's model inside a DistributedDataParallel wrapper (its state has no prefix)."""
    return model.module if isinstance(model, DistributedDataParallel) else model


def seed_everything(seed: int) -> torch.Generator:
    torch.manual_seed(seed)
    np.random.seed(seed % (1 << 32))
    random.seed(seed)
    return torch.Generator().manual_seed(seed)


def current_lr(optimizer: torch.optim.Optimizer) -> float:
    return float(optimizer.param_groups[0]["lr"])


def epoch_record(epoch: int, train: PassResult, valid: PassResult, lr: float) -> dict[str, Any]:
    seconds = train.seconds + valid.seconds
    return {
        "epoch": epoch,
        "train_loss": train.loss,
        "valid_loss": valid.loss if valid.samples else None,
        "train_metric": train.metric,
        "valid_metric": valid.metric if valid.samples else None,
        "lr": lr,
        "seconds": seconds,
        "samples_per_s": (train.samples + valid.samples) / seconds if seconds else 0.0,
    }


def checkpoint_state(
    parts: TrainingParts, run: RunState, scaler: Any, generator: torch.Generator
) -> dict[str, Any]:
    """What a checkpoint holds, as live objects (`snapshot` copies them)."""
    best = run.best
    return {
        "epoch": run.epoch,
        "model": unwrap(parts.model).state_dict(),
        "optimizer": parts.optimizer.state_dict(),
        "scheduler": parts.scheduler.state_dict() if parts.scheduler is not None else None,
        "scaler": scaler.state_dict() if scaler is not None else None,
        "history": run.history,
        "best": None if best is None else [best.epoch, best.metric, best.loss],
        "stale_epochs": run.stale_epochs,
        "rng": checkpoints.rng_state(generator),
    }


# A schedule's length follows the epochs setting: these keys come from the new one.
SCHEDULE_LENGTH_KEYS = ("total_steps", "_schedule_phases")


def schedule_state(fresh: dict[str, Any], saved: dict[str, Any]) -> dict[str, Any]:
    """The saved scheduler state, with the length of the schedule just built.

    Resuming with more epochs than the checkpoint's training had must not replay the old,
    shorter schedule (OneCycleLR refuses to step past its `total_steps`): the position
    (`last_epoch`) stays, the end moves.
    """
    state = dict(saved)
    for key in SCHEDULE_LENGTH_KEYS:
        if key in fresh and key in state:
            state[key] = fresh[key]
    return state


def match_weight_layouts(optimizer: torch.optim.Optimizer) -> None:
    """Give each restored state tensor its weight's memory layout.

    A checkpoint stores tensors contiguous, and a channels-last model's weights are not.
    torch's fused optimizer kernels walk a weight and its state as flat memory, so a state
    tensor with other strides is silently paired with the wrong elements.
    """
    for group in optimizer.param_groups:
        for weight in group["params"]:
            state = optimizer.state.get(weight, {})
            for key, value in state.items():
                if (
                    isinstance(value, torch.Tensor)
                    and value.shape == weight.shape
                    and value.stride() != weight.stride()
                ):
                    state[key] = torch.empty_like(weight, dtype=value.dtype).copy_(value)


def restore_checkpoint(
    data: bytes, parts: TrainingParts, scaler: Any, generator: torch.Generator
) -> RunState:
    try:
        saved = checkpoints.unpack(data)
        unwrap(parts.model).load_state_dict(saved["model"])
        parts.optimizer.load_state_dict(saved["optimizer"])
        match_weight_layouts(parts.optimizer)
        if parts.scheduler is not None and saved["scheduler"] is not None:
            parts.scheduler.load_state_dict(
                schedule_state(parts.scheduler.state_dict(), saved["scheduler"])
            )
        if scaler is not None and saved["scaler"] is not None:
            scaler.load_state_dict(saved["scaler"])
        checkpoints.restore_rng(saved["rng"], generator)
    except (checkpoints.CheckpointError, KeyError, RuntimeError, ValueError) as exc:
        raise TrainingError(f"cannot resume from this checkpoint: {exc}") from exc
    best = saved["best"]
    return RunState(
        epoch=int(saved["epoch"]),
        history=list(saved["history"]),
        best=None if best is None else Best(int(best[0]), best[1], float(best[2])),
        stale_epochs=int(saved["stale_epochs"]),
    )


def _step_scheduler(parts: TrainingParts, validation_loss: float) -> None:
    if parts.scheduler is not None and not parts.step_every_batch:
        if isinstance(parts.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            parts.scheduler.step(validation_loss)
        else:
            parts.scheduler.step()


def run_epochs(
    job: EpochJob,
    run: RunState,
    send: Send | None,
    cancelled: Callable[[], bool],
    on_batch: Callable[[int], None] | None = None,
    background: bool = False,
) -> tuple[dict[str, Any], bytes | None]:
    """Train until the last epoch, an early stop or a cancel; returns the summary and the
    last best weights packed here (only a process with `send` packs them).

    With `background`, best weights and checkpoints are packed and sent on a thread while
    the next epoch trains (`send` must then be thread-safe); all are sent before it returns.
    """
    parts, settings = job.parts, job.settings

    def one_pass(source: BatchSource, train: bool, epoch: int) -> PassResult:
        return run_pass(
            parts, source, settings, job.device, job.precision, job.generator,
            train=train, epoch=epoch, cancelled=cancelled,
            on_batch=on_batch if train else None, sync=job.sync,
        )  # fmt: skip

    best_weights: list[bytes] = []

    def pack_best(weights: dict[str, Any], info: dict[str, Any]) -> dict[str, Any]:
        best_weights[:] = [state_dict_bytes(weights)]
        return {**info, "weights": best_weights[0]}

    saver = None if send is None else (BackgroundSaver if background else InlineSaver)(send)
    reason = "finished"
    try:
        while run.epoch < settings.epochs:
            epoch = run.epoch + 1
            trained = one_pass(job.train_source, True, epoch)
            validated = one_pass(job.valid_source, False, epoch)
            lr = current_lr(parts.optimizer)
            _step_scheduler(parts, validated.loss)
            record = {**epoch_record(epoch, trained, validated, lr), **job.extra}
            run.epoch = epoch
            run.history.append(record)
            if send is not None:
                send("epoch", record)
            judged = validated if validated.samples else trained
            better = is_better(judged.metric, judged.loss, run.best, parts.metric_higher)
            if better:
                run.best, run.stale_epochs = Best(epoch, judged.metric, judged.loss), 0
            else:
                run.stale_epochs += 1
            stopping = settings.early_stop is not None and run.stale_epochs >= settings.early_stop
            if saver is not None and send is not None:
                send(
                    "progress",
                    {
                        "fraction": epoch / settings.epochs,
                        "text": f"epoch {epoch}/{settings.epochs}",
                    },
                )
                last = stopping or epoch == settings.epochs
                state = None
                if last or epoch % settings.checkpoint_every == 0:
                    state = snapshot(
                        checkpoint_state(parts, run, job.precision.scaler, job.generator),
                        saver.spare("checkpoint"),
                    )
                if better:
                    info = {"epoch": epoch, "valid_metric": judged.metric,
                            "valid_loss": judged.loss}  # fmt: skip
                    if state is not None:  # the checkpoint's copy of the weights: one copy
                        weights, spare = state["model"], None  # the checkpoint's to reuse
                    else:
                        weights = snapshot(unwrap(parts.model).state_dict(), saver.spare("best"))
                        spare = weights
                    saver.put("best", lambda w=weights, i=info: pack_best(w, i), spare)
                if state is not None:  # after the best weights, which it may share
                    saver.put(
                        "checkpoint",
                        lambda st=state, e=epoch: {"epoch": e, "data": checkpoints.pack_pieces(st)},
                        state,
                    )
            if stopping:
                reason = f"early stop: no better validation result for {run.stale_epochs} epochs"
                break
    except Cancelled:
        reason = f"stopped by the user after epoch {run.epoch}"
    finally:
        if saver is not None:
            saver.close()  # every save queued is sent before the summary
    summary = {
        "epochs_done": run.epoch,
        "best_epoch": run.best.epoch if run.best else None,
        "best_metric": run.best.metric if run.best else None,
        "metric_higher": parts.metric_higher,  # whether the best metric is the highest
        "best_loss": run.best.loss if run.best else None,
        "reason": reason,
        "history": run.history,
        **job.extra,
    }
    return summary, best_weights[0] if best_weights else None
