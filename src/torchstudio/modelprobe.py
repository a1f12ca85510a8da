"""Model probing worker: looks at a model without changing its weights or its project.

Messages (see `torchstudio.worker` for the conventions); both are background jobs that
`cancel` stops, with progress:
- `interpret` {"built", "link", "settings": the run's TrainSettings, "weights": its best
  weights, "labels"?: class names} -> the interpretation of the whole validation split
  (`probe.interpretation`; the training split when there is no validation split), with
  "split".
- `lrfind` {"built", "link", "settings", "start"?, "end"?, "steps"?} -> the learning-rate
  range test on a copy of the built model's initial weights (`probe.lrfind`): "lrs",
  "losses", "smoothed", "suggestion", "steepest", "stopped".

And one quick request: `metric` {"settings"} -> {"higher": whether higher values of the
settings' metrics are better (False: errors such as MAE), None when there is no metric}.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from torchstudio.model.package import load_built_model, load_state_bytes
from torchstudio.modeltrain import fetch_entry
from torchstudio.probe import lrfind
from torchstudio.probe.collect import collect
from torchstudio.probe.interpretation import interpret
from torchstudio.train.batches import CachedBatches
from torchstudio.train.device import select_device
from torchstudio.train.epochs import seed_everything
from torchstudio.train.loop import TrainingError, build_parts, make_metrics, metrics_higher
from torchstudio.train.settings import TrainSettings
from torchstudio.worker import Handlers, WorkerContext, run_worker


def _settings(value: dict[str, Any]) -> tuple[TrainSettings, torch.device]:
    try:
        settings = TrainSettings.from_json(value.get("settings"))
        return settings, select_device(settings.device)
    except ValueError as exc:
        raise TrainingError(str(exc)) from exc


def interpret_run(value: dict[str, Any], ctx: WorkerContext) -> dict[str, Any]:
    settings, device = _settings(value)
    if settings.threads:
        torch.set_num_threads(settings.threads)
    ctx.progress(0.0, "getting the dataset")
    entry = fetch_entry(value, ctx)
    split = "valid" if len(entry.split("valid")) else "train"
    source = CachedBatches(entry.split(split))
    model = load_built_model(value["built"], device)
    if value.get("weights") is not None:
        load_state_bytes(model, bytes(value["weights"]))
    steps = max(1, math.ceil(len(source) / settings.batch_size))
    parts = build_parts(model, settings, steps, device)
    outputs, targets, losses = collect(
        model, parts.losses[0], source, settings.input_ids, settings.output_ids[0],
        settings.batch_size, device, lambda: ctx.cancelled,
        lambda fraction: ctx.progress(fraction, f"{split} samples: {fraction:.0%}"),
    )  # fmt: skip
    logits = "logits" in type(parts.losses[0]).__name__.lower() or hasattr(
        parts.losses[0], "pos_weight"
    )
    try:
        report = interpret(outputs, targets, losses, value.get("labels"), logits=logits)
    except ValueError as exc:
        raise TrainingError(str(exc)) from exc
    return {**report, "split": split}


def find_lr(value: dict[str, Any], ctx: WorkerContext) -> dict[str, Any]:
    settings, device = _settings(value)
    if settings.threads:
        torch.set_num_threads(settings.threads)
    generator = seed_everything(settings.seed)
    ctx.progress(0.0, "getting the dataset")
    entry = fetch_entry(value, ctx)
    source = CachedBatches(entry.split("train"))
    model = load_built_model(value["built"], device)  # a copy: the built model's weights
    steps = int(value.get("steps") or lrfind.STEPS)
    parts = build_parts(
        model, settings, max(1, math.ceil(len(source) / settings.batch_size)), device
    )
    try:
        test = lrfind.range_test(
            parts, source, settings.input_ids, settings.output_ids, settings.batch_size,
            device, generator, float(value.get("start") or lrfind.START_LR),
            float(value.get("end") or lrfind.END_LR), steps, lambda: ctx.cancelled,
            lambda fraction: ctx.progress(fraction, f"batch {round(fraction * steps)}/{steps}"),
        )  # fmt: skip
    except ValueError as exc:
        raise TrainingError(str(exc)) from exc
    return test.to_json()


def metric_direction(value: dict[str, Any], ctx: WorkerContext) -> dict[str, Any]:
    settings, _ = _settings(value)
    codes = [code for code in settings.metric if code.strip()]
    if not codes:
        return {"higher": None}
    context = {"model": None, "epochs": settings.epochs, "steps_per_epoch": 1}
    return {"higher": metrics_higher(make_metrics(codes, context))}


def handlers() -> Handlers:
    registry = Handlers()
    registry.add("metric", metric_direction)
    registry.add("interpret", interpret_run, background=True)
    registry.add("lrfind", find_lr, background=True)
    return registry


def main() -> None:
    raise SystemExit(run_worker(handlers(), "modelprobe"))


if __name__ == "__main__":
    main()
