"""Train the model as TorchStudio trains it: a plain PyTorch loop.

    python train.py [--epochs N] [--device cpu|cuda|cuda:0|mps] [--out FOLDER]

Every epoch prints one JSON line (the fields of `torchstudio run`), keeps the weights of the
best validation result in best.safetensors and everything needed to go on in checkpoint.pt.
The best result is the best validation metric (the highest; the lowest when every metric is
an error, such as MAE; ties, or no metric: the lowest validation loss); training stops early after `early_stop` epochs without a better one.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save_file

from dataset import INPUTS, OUTPUTS, pad, splits
from model import build_model

# @SETTINGS@


# @PARTS@


# ---------------------------------------------------------------------------- batches


def collate(samples: list[tuple[np.ndarray, ...]]) -> list[Any]:
    """One batch: each tensor position stacked (a list of tensors where shapes differ),
    then the padded tensor padded (SPLIT["padding"] in dataset.py)."""
    batch: list[Any] = []
    for position in range(len(samples[0])):
        tensors = [torch.as_tensor(sample[position]) for sample in samples]
        same_shape = len({tuple(t.shape) for t in tensors}) == 1
        batch.append(torch.stack(tensors) if same_shape else tensors)
    return pad(batch)


def batches(
    split: Any, batch_size: int, shuffle: bool, generator: torch.Generator
) -> Iterator[list[Any]]:
    """The split's batches, in a new random order each epoch when shuffled (the studio draws
    the order with torch.randperm from the seeded generator, as here)."""
    count = len(split)
    order = torch.randperm(count, generator=generator) if shuffle else torch.arange(count)
    for start in range(0, count, batch_size):
        yield collate([split[int(index)] for index in order[start : start + batch_size]])


def to_device(value: Any, device: torch.device) -> Any:
    if isinstance(value, torch.Tensor):
        return value.to(device)
    return [to_device(item, device) for item in value]


def as_list(outputs: Any) -> list[Any]:
    return list(outputs) if isinstance(outputs, tuple | list) else [outputs]


def metric_value(metric: Any) -> float:
    """A metric's result as one number (per-class results: their mean)."""
    value = metric.compute()
    if isinstance(value, torch.Tensor):
        return float(value.float().mean()) if value.numel() != 1 else float(value)
    return float(value)


# ---------------------------------------------------------------------------- one pass


def run_pass(
    model: torch.nn.Module,
    losses: list[Any],
    metrics: list[Any],
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    split: Any,
    settings: dict[str, Any],
    device: torch.device,
    generator: torch.Generator,
    scaler: Any,
    train: bool,
) -> dict[str, Any]:
    """One pass over a split: forward, loss (the sum of the outputs' losses) and, when
    training, backward and step. Returns the mean loss and the metrics' mean."""
    model.train(train)
    if getattr(optimizer, "needs_train_eval", False):  # schedule-free optimizers
        optimizer.train() if train else optimizer.eval()
    for metric in metrics:
        metric.reset()
    autocast = autocast_for(settings["precision"], device)
    total_loss, samples = 0.0, 0
    step_every_batch = bool(getattr(scheduler, "step_every_batch", False))
    with torch.set_grad_enabled(train):
        for batch in batches(
            split, settings["batch_size"], train and settings["shuffle"], generator
        ):
            inputs = [to_device(batch[i], device) for i in INPUTS]
            targets = [to_device(batch[i], device) for i in OUTPUTS]
            with autocast():
                outputs = as_list(model(*inputs))
                loss = sum(
                    loss_fn(output, target)
                    for loss_fn, output, target in zip(losses, outputs, targets, strict=True)
                )
            value = loss.item()
            if not math.isfinite(value):
                raise SystemExit(f"the loss became {value}: training stopped")
            if train:
                optimizer.zero_grad(set_to_none=True)
                if scaler is not None:
                    scaler.scale(loss).backward()
                    scaler.step(optimizer)
                    scaler.update()
                else:
                    loss.backward()
                    optimizer.step()
                if scheduler is not None and step_every_batch:
                    scheduler.step()
            count = len(targets[0])
            total_loss += value * count
            samples += count
            for metric, output, target in zip(metrics, outputs, targets, strict=False):
                metric.update(output.detach().float(), target)
    values = [metric_value(metric) for metric in metrics] if samples else []
    return {
        "loss": total_loss / max(samples, 1),
        "metric": sum(values) / len(values) if values else None,
        "samples": samples,
    }


def autocast_for(precision: str, device: torch.device) -> Any:
    """fp32 and tf32: no autocast; fp16 and bf16: autocast to that type."""
    if precision in ("fp16", "bf16"):
        dtype = torch.float16 if precision == "fp16" else torch.bfloat16
        return lambda: torch.autocast(device_type=device.type, dtype=dtype)
    return nullcontext


def is_better(
    metric: float | None, loss: float, best: dict[str, Any] | None, higher: bool = True
) -> bool:
    """The best validation metric wins (the lowest when not `higher`); ties (or no metric)
    go to the lowest loss."""
    if best is None:
        return True
    if metric is not None and best["metric"] is not None and metric != best["metric"]:
        return metric > best["metric"] if higher else metric < best["metric"]
    return loss < best["loss"]


def metrics_higher(metrics: list[Any]) -> bool:
    """Whether higher metric values are better: unless every metric is an error
    (`higher_is_better = False`, as torchmetrics' MAE says)."""
    return not metrics or any(getattr(m, "higher_is_better", True) is not False for m in metrics)


def state_for_file(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The weights as safetensors keeps them (each its own contiguous copy)."""
    return {name: value.detach().cpu().contiguous().clone() for name, value in
            model.state_dict().items()}  # fmt: skip


# ---------------------------------------------------------------------------- training


def train(epochs: int | None = None, device: str | None = None, out: str = ".") -> dict[str, Any]:
    """Train for `epochs` on `device` (default: SETTINGS'); returns the summary."""
    settings = {**SETTINGS}
    settings["epochs"] = epochs or settings["epochs"]
    settings["device"] = device or settings["device"]
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    device_ = torch.device(settings["device"])
    if device_.type == "cuda":  # TF32 matmuls only when asked for
        torch.backends.cuda.matmul.allow_tf32 = settings["precision"] == "tf32"
        torch.backends.cudnn.allow_tf32 = settings["precision"] == "tf32"
    scaler = torch.amp.GradScaler(device_.type) if settings["precision"] == "fp16" else None

    # The studio converts every sample once when the dataset loads (its cache): the same here,
    # before seeding, so that the dataset code draws nothing from the training's generators.
    training, validation = ([split[i] for i in range(len(split))] for split in splits())
    start = build_model().state_dict()  # the weights the studio's build starts from
    seed = settings["seed"]
    torch.manual_seed(seed)
    np.random.seed(seed % (1 << 32))
    random.seed(seed)
    generator = torch.Generator().manual_seed(seed)  # draws the training order
    # As the studio's trainer does: make the model from its code (its random initial values
    # come from the seeded generator, so later draws such as dropout's match), then give it
    # the build's weights.
    model = build_model(seed=None)
    model.load_state_dict(start)
    model = model.to(device_)
    steps_per_epoch = max(1, math.ceil(len(training) / settings["batch_size"]))
    context = {"model": model, "epochs": settings["epochs"], "steps_per_epoch": steps_per_epoch}
    losses = [make(**context).to(device_) for make in LOSSES]
    metrics = [make(**context) for make in METRICS]
    optimizer = make_optimizer(**context)
    scheduler = make_scheduler(optimizer=optimizer, **context)

    best: dict[str, Any] | None = None
    stale_epochs, reason, epoch = 0, "finished", 0
    for epoch in range(1, settings["epochs"] + 1):
        started = time.perf_counter()
        common = (model, losses, metrics, optimizer, scheduler)
        trained = run_pass(*common, training, settings, device_, generator, scaler, True)
        validated = run_pass(*common, validation, settings, device_, generator, scaler, False)
        lr = float(optimizer.param_groups[0]["lr"])
        if scheduler is not None and not getattr(scheduler, "step_every_batch", False):
            if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                scheduler.step(validated["loss"])
            else:
                scheduler.step()
        has_valid = validated["samples"] > 0
        record = {
            "epoch": epoch,
            "train_loss": trained["loss"],
            "valid_loss": validated["loss"] if has_valid else None,
            "train_metric": trained["metric"],
            "valid_metric": validated["metric"] if has_valid else None,
            "lr": lr,
            "seconds": time.perf_counter() - started,
        }
        print(json.dumps(record), flush=True)
        judged = validated if has_valid else trained
        if is_better(judged["metric"], judged["loss"], best, metrics_higher(metrics)):
            best = {"epoch": epoch, "metric": judged["metric"], "loss": judged["loss"]}
            stale_epochs = 0
            save_file(state_for_file(model), str(folder / "best.safetensors"))
        else:
            stale_epochs += 1
        checkpoint = {
            "epoch": epoch,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict() if scheduler is not None else None,
            "scaler": scaler.state_dict() if scaler is not None else None,
            "best": best,
            "stale_epochs": stale_epochs,
        }
        torch.save(checkpoint, folder / "checkpoint.pt")
        early_stop = settings["early_stop"]
        if early_stop is not None and stale_epochs >= early_stop:
            reason = f"early stop: no better validation result for {stale_epochs} epochs"
            break
    summary = {
        "epochs": epoch,
        "best_epoch": best["epoch"] if best else None,
        "best_metric": best["metric"] if best else None,
        "best_loss": best["loss"] if best else None,
        "reason": reason,
    }
    print(json.dumps({"summary": summary}), flush=True)
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, help=f"default {SETTINGS['epochs']}")
    parser.add_argument("--device", help=f"default {SETTINGS['device']}")
    parser.add_argument("--out", default=".", help="folder for the weights and checkpoint")
    args = parser.parse_args()
    train(args.epochs, args.device, args.out)


if __name__ == "__main__":
    main()
