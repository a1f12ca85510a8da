"""Model training worker: trains epoch by epoch, keeps the best weights, infers and exports.

Messages (see `torchstudio.worker` for the conventions):
- `train` (a background job; `cancel` stops it) {"built": modelbuild's built model,
  "link": datasetload's data link (or "dataset": {"code", "settings", "workdir"} in the
  fresh-samples mode), "settings": TrainSettings, "checkpoint"?: bytes to resume from}.
  Sends per epoch `epoch` {"epoch", "train_loss", "valid_loss", "train_metric",
  "valid_metric", "lr", "seconds", "samples_per_s"}, `best` {"epoch", "weights",
  "valid_metric", "valid_loss"} when the best result improves, and `checkpoint`
  {"epoch", "data"}; answers with a summary.
- `infer` {"inputs": one sample's input tensors, "weights"?: "best"|"last"} -> outputs.
- `export` {"format", "path", "inputs", "weights"?} -> where and how well it was checked.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from torchstudio.data.cache import default_cache_dir
from torchstudio.data.handoff import fetch_dataset
from torchstudio.data.split import DatasetSettings, make_splits
from torchstudio.datasetload import run_dataset_code
from torchstudio.model.package import load_built_model, load_state_bytes, state_bytes
from torchstudio.train import state as checkpoints
from torchstudio.train.batches import BatchSource, CachedBatches, LoaderBatches
from torchstudio.train.device import select_device, setup_precision
from torchstudio.train.export import export_model
from torchstudio.train.loop import (
    Cancelled,
    PassResult,
    TrainingError,
    TrainingParts,
    as_list,
    build_parts,
    run_pass,
)
from torchstudio.train.settings import TrainSettings
from torchstudio.worker import Handlers, WorkerContext, run_worker


@dataclass
class Best:
    epoch: int
    metric: float | None
    loss: float


def is_better(metric: float | None, loss: float, best: Best | None) -> bool:
    """Highest validation metric wins; ties (or no metric) go to the lower validation loss."""
    if best is None:
        return True
    if metric is not None and best.metric is not None and metric != best.metric:
        return metric > best.metric
    return loss < best.loss


@dataclass
class RunState:
    """What a checkpoint restores besides the model and optimizer."""

    epoch: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    best: Best | None = None
    stale_epochs: int = 0  # epochs since the best one, for early stopping


def load_sources(
    value: dict[str, Any], settings: TrainSettings, device: torch.device, ctx: WorkerContext
) -> tuple[BatchSource, BatchSource]:
    """The training and validation batch sources: the cache hand-off, or fresh samples."""
    pin = device.type == "cuda"
    if settings.data == "fresh":
        dataset = value.get("dataset") or {}
        train, valid = run_dataset_code(dataset["code"], dataset.get("workdir"))
        training, validation = make_splits(
            train, valid, DatasetSettings.from_json(dataset.get("settings"))
        )
        return (
            LoaderBatches(training, settings.loader_workers, pin),
            LoaderBatches(validation, settings.loader_workers, pin),
        )
    if "link" not in value:
        raise TrainingError("no dataset: load the dataset first (the request has no data link)")
    entry = fetch_dataset(
        value["link"],
        value.get("cache_dir") or default_cache_dir(),
        lambda f, t: ctx.progress(0.0, t),
    )
    return CachedBatches(entry.split("train"), pin), CachedBatches(entry.split("valid"), pin)


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


def make_checkpoint(
    parts: TrainingParts, run: RunState, scaler: Any, generator: torch.Generator
) -> bytes:
    best = run.best
    return checkpoints.pack(
        {
            "epoch": run.epoch,
            "model": parts.model.state_dict(),
            "optimizer": parts.optimizer.state_dict(),
            "scheduler": parts.scheduler.state_dict() if parts.scheduler is not None else None,
            "scaler": scaler.state_dict() if scaler is not None else None,
            "history": run.history,
            "best": None if best is None else [best.epoch, best.metric, best.loss],
            "stale_epochs": run.stale_epochs,
            "rng": checkpoints.rng_state(generator),
        }
    )


def restore_checkpoint(
    data: bytes, parts: TrainingParts, scaler: Any, generator: torch.Generator
) -> RunState:
    try:
        saved = checkpoints.unpack(data)
        parts.model.load_state_dict(saved["model"])
        parts.optimizer.load_state_dict(saved["optimizer"])
        if parts.scheduler is not None and saved["scheduler"] is not None:
            parts.scheduler.load_state_dict(saved["scheduler"])
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


def seed_everything(seed: int) -> torch.Generator:
    torch.manual_seed(seed)
    np.random.seed(seed % (1 << 32))
    random.seed(seed)
    return torch.Generator().manual_seed(seed)


class ModelTrainWorker:
    """The worker's state: the model being trained, its last and best weights."""

    def __init__(self) -> None:
        self.model: nn.Module | None = None
        self.built: dict[str, Any] | None = None
        self.best_weights: bytes | None = None
        self.handlers = Handlers()
        self.handlers.add("train", self.train, background=True)
        self.handlers.add("infer", self.infer)
        self.handlers.add("export", self.export)

    def train(self, value: dict[str, Any], ctx: WorkerContext) -> dict[str, Any]:
        started = time.perf_counter()
        first_batch: list[float] = []

        def on_batch(index: int) -> None:
            if not first_batch:
                first_batch.append(time.perf_counter() - started)
                ctx.progress(0.0, f"first batch after {first_batch[0]:.2f} s")

        try:
            settings = TrainSettings.from_json(value.get("settings"))
            device = select_device(settings.device)
            precision = setup_precision(settings.precision, device)
        except ValueError as exc:  # bad settings, or a device this machine lacks
            raise TrainingError(str(exc)) from exc
        if settings.threads:
            torch.set_num_threads(settings.threads)
        generator = seed_everything(settings.seed)
        ctx.progress(0.0, "getting the dataset")
        train_source, valid_source = load_sources(value, settings, device, ctx)
        model = load_built_model(value["built"], device)
        self.model, self.built, self.best_weights = model, value["built"], None
        steps = max(1, math.ceil(len(train_source) / settings.batch_size))
        parts = build_parts(model, settings, steps, device)
        run = RunState()
        if value.get("checkpoint"):
            run = restore_checkpoint(value["checkpoint"], parts, precision.scaler, generator)
            self.best_weights = value.get("best_weights")
        reason = "finished"
        try:
            while run.epoch < settings.epochs:
                epoch = run.epoch + 1
                common = (parts, train_source, settings, device, precision, generator)
                trained = run_pass(
                    *common, train=True, epoch=epoch, cancelled=lambda: ctx.cancelled,
                    on_batch=on_batch,
                )  # fmt: skip
                validated = run_pass(
                    parts, valid_source, settings, device, precision, generator,
                    train=False, epoch=epoch, cancelled=lambda: ctx.cancelled,
                )  # fmt: skip
                lr = current_lr(parts.optimizer)
                if parts.scheduler is not None and not parts.step_every_batch:
                    if isinstance(parts.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                        parts.scheduler.step(validated.loss)
                    else:
                        parts.scheduler.step()
                record = epoch_record(epoch, trained, validated, lr)
                run.epoch = epoch
                run.history.append(record)
                ctx.send("epoch", record)
                judged = validated if validated.samples else trained
                if is_better(judged.metric, judged.loss, run.best):
                    run.best, run.stale_epochs = Best(epoch, judged.metric, judged.loss), 0
                    self.best_weights = state_bytes(model)
                    ctx.send(
                        "best",
                        {"epoch": epoch, "weights": self.best_weights,
                         "valid_metric": judged.metric, "valid_loss": judged.loss},
                    )  # fmt: skip
                else:
                    run.stale_epochs += 1
                ctx.send(
                    "checkpoint",
                    {
                        "epoch": epoch,
                        "data": make_checkpoint(parts, run, precision.scaler, generator),
                    },
                )
                ctx.progress(epoch / settings.epochs, f"epoch {epoch}/{settings.epochs}")
                if settings.early_stop is not None and run.stale_epochs >= settings.early_stop:
                    reason = (
                        f"early stop: no better validation result for {run.stale_epochs} epochs"
                    )
                    break
        except Cancelled:
            reason = f"stopped by the user after epoch {run.epoch}"
        return {
            "epochs_done": run.epoch,
            "best_epoch": run.best.epoch if run.best else None,
            "best_metric": run.best.metric if run.best else None,
            "best_loss": run.best.loss if run.best else None,
            "reason": reason,
            "history": run.history,
            "first_batch_seconds": first_batch[0] if first_batch else None,
        }

    def _model_with(self, value: dict[str, Any]) -> nn.Module:
        if value.get("built") is not None:
            self.model, self.built = load_built_model(value["built"], "cpu"), value["built"]
        if self.model is None or self.built is None:
            raise TrainingError("no model: train or send a built model first")
        model = load_built_model(self.built, "cpu")
        weights = value.get("weights", "best")
        if isinstance(weights, bytes | bytearray):
            load_state_bytes(model, bytes(weights))
        elif weights == "best" and self.best_weights is not None:
            load_state_bytes(model, self.best_weights)
        else:
            model.load_state_dict({k: v.cpu() for k, v in self.model.state_dict().items()})
        return model.eval()

    def infer(self, value: dict[str, Any], ctx: WorkerContext) -> list[torch.Tensor]:
        model = self._model_with(value)
        inputs = [torch.as_tensor(t).unsqueeze(0) for t in value["inputs"]]
        with torch.no_grad():
            return [o[0].detach().cpu() for o in as_list(model(*inputs))]

    def export(self, value: dict[str, Any], ctx: WorkerContext) -> dict[str, Any]:
        model = self._model_with(value)
        inputs = [torch.as_tensor(t).unsqueeze(0) for t in value["inputs"]]
        assert self.built is not None
        return export_model(model, self.built, value["format"], value["path"], inputs)


def main() -> None:
    raise SystemExit(run_worker(ModelTrainWorker().handlers, "modeltrain"))


if __name__ == "__main__":
    main()
