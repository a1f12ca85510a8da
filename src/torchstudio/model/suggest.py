"""Suggested loss, metric, optimizer, scheduler and hyperparameters, from the dataset's targets.

Each target (one per model output) is read as one of:
- "class_index": integer class indices (N, N x 1, or N x H x W maps) -> CrossEntropy,
  Accuracy with task 'multiclass';
- "multi_hot": 0/1 vectors (N x L, float or integer, or bool) -> BinaryCrossEntropy,
  Accuracy with task 'multilabel';
- "binary": integer 0/1 targets the model answers with one logit each (its output has the
  target's size) -> BinaryCrossEntropy, Accuracy with task 'binary';
- "regression": anything else -> MeanSquareError, and torchmetrics' MeanAbsoluteError as
  the metric (none of the built-in metrics measures regression; the error in the target's
  own unit reads better than the squared loss).
Then AdamW (lr 1e-2) and OneCycle (its peak is the optimizer's learning rate, so the rate
the user sets on the optimizer is the peak; stepped per batch when the training set size is
known, else per epoch): a warm-up then an anneal suits every task here, so
NoSchedule (meant for schedule-free optimizers) is not suggested. Batch size, epochs and
early-stop patience come from the dataset size and the sample size: the largest power of two
up to 256 that keeps a batch of raw samples under 32 MiB and an epoch at 10 steps or more;
epochs aiming at about 1000 steps in all, between 10 and 50; patience a fifth of the epochs.

Every suggestion comes with the code chunk `pythonparse.generate_code` makes from the same
module and values, i.e. the code the user would get by picking that module in the UI.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import torch

from torchstudio.pythonparse import ModuleInfo, generate_code, scan_builtin

LEARNING_RATE = 1e-2  # the peak of the suggested one-cycle schedule
MAX_BATCH = 256
BATCH_BYTES = 32 << 20  # raw sample data per batch: keeps large samples in small batches
MIN_STEPS_PER_EPOCH = 10
TARGET_STEPS = 1000  # training steps aimed at, to choose the number of epochs
MIN_EPOCHS, MAX_EPOCHS, DEFAULT_EPOCHS = 10, 50, 20

_LOSSES = {
    "class_index": "CrossEntropy",
    "multi_hot": "BinaryCrossEntropy",
    "binary": "BinaryCrossEntropy",
    "regression": "MeanSquareError",
}
_TASKS = {"class_index": "multiclass", "multi_hot": "multilabel", "binary": "binary"}
# A library metric, described the way pythonparse describes torchmetrics metrics.
_REGRESSION_METRIC = ModuleInfo(
    kind="metrics",
    name="MeanAbsoluteError",
    origin="torchmetrics",
    import_path="torchmetrics.regression.MeanAbsoluteError",
    var_keyword=True,
)


@functools.cache
def _builtin(kind: str, name: str) -> ModuleInfo:
    infos = scan_builtin()[kind]
    return next(info for info in infos if info.name == name)


def _is_zero_one(tensor: torch.Tensor) -> bool:
    if tensor.dtype == torch.bool:
        return True
    return tensor.numel() > 0 and bool(((tensor == 0) | (tensor == 1)).all())


def target_kind(target: torch.Tensor, output: torch.Tensor | None = None) -> str:
    """'class_index', 'multi_hot', 'binary' or 'regression' for a batched target tensor."""
    if target.is_complex():
        return "regression"
    sample_shape = target.shape[1:]
    vector = len(sample_shape) == 1 and sample_shape[0] > 1
    if target.dtype == torch.bool or (vector and _is_zero_one(target)):
        return "multi_hot"
    if target.is_floating_point():
        return "regression"
    same_size = (
        output is not None and output.is_floating_point() and output.numel() == target.numel()
    )
    if same_size and _is_zero_one(target):
        return "binary"  # one logit per target value: no class dimension to pick from
    return "class_index"


def _suggestion(info: ModuleInfo, values: dict[str, str], **extra: Any) -> dict[str, Any]:
    return {
        "name": info.name,
        "module": f"{info.origin}:{info.name}",  # the catalog's key (app.catalog.module_key)
        "values": values,
        "code": generate_code(info, values),
        **extra,
    }


def suggest_loss(kind: str) -> dict[str, Any]:
    return _suggestion(_builtin("loss", _LOSSES[kind]), {}, target=kind)


def suggest_metric(kind: str) -> dict[str, Any]:
    if kind == "regression":
        return _suggestion(_REGRESSION_METRIC, {}, target=kind)
    return _suggestion(_builtin("metrics", "Accuracy"), {"task": repr(_TASKS[kind])}, target=kind)


def _sample_bytes(tensors: Sequence[torch.Tensor]) -> int:
    """Bytes of one sample (the tensors carry a batch dimension)."""
    total = 0
    for tensor in tensors:
        batch = tensor.shape[0] if tensor.dim() else 1
        total += tensor.numel() * tensor.element_size() // max(batch, 1)
    return max(total, 1)


def _power_of_two_floor(value: float) -> int:
    return 2 ** int(math.log2(value)) if value >= 1 else 1


def suggest_hyperparameters(
    tensors: Sequence[torch.Tensor], train_count: int | None = None
) -> dict[str, int]:
    """Batch size (a power of two), epochs and early-stop patience."""
    batch = min(MAX_BATCH, BATCH_BYTES // _sample_bytes(tensors))
    if train_count:
        batch = min(batch, train_count // MIN_STEPS_PER_EPOCH)
    batch = _power_of_two_floor(batch)
    if train_count:
        steps = math.ceil(train_count / batch)
        epochs = min(MAX_EPOCHS, max(MIN_EPOCHS, math.ceil(TARGET_STEPS / steps)))
    else:
        epochs = DEFAULT_EPOCHS
    return {"batch_size": batch, "epochs": epochs, "early_stop_patience": max(3, epochs // 5)}


def suggest_scheduler(epochs: int, steps_per_epoch: int | None) -> dict[str, Any]:
    # The trainer defines `epochs` and `steps_per_epoch` where the chunk runs: naming them
    # keeps the schedule right when the user changes the batch size or the epoch count.
    # No max_lr: OneCycle then peaks at the optimizer's learning rate, the user's.
    values = {"epochs": "epochs"}
    if steps_per_epoch:
        values["steps_per_epoch"] = "steps_per_epoch"
    return _suggestion(_builtin("schedulers", "OneCycle"), values)


def suggest_training(
    inputs: Sequence[torch.Tensor],
    targets: Sequence[torch.Tensor],
    outputs: Sequence[torch.Tensor] = (),
    train_count: int | None = None,
) -> dict[str, Any]:
    """Everything the trainer needs besides the model, one loss and metric per target.

    Returns {"loss": [...], "metric": [...], "optimizer", "scheduler", "hyperparameters"}
    where each suggestion is {"name", "values" (parameter texts), "code"} and losses and
    metrics also say which "target" kind they were chosen for.
    """
    kinds = [
        target_kind(target, outputs[i] if i < len(outputs) else None)
        for i, target in enumerate(targets)
    ]
    hyper = suggest_hyperparameters([*inputs, *targets], train_count)
    steps = math.ceil(train_count / hyper["batch_size"]) if train_count else None
    return {
        "loss": [suggest_loss(kind) for kind in kinds],
        "metric": [suggest_metric(kind) for kind in kinds],
        "optimizer": _suggestion(_builtin("optim", "AdamW"), {"lr": repr(LEARNING_RATE)}),
        "scheduler": suggest_scheduler(hyper["epochs"], steps),
        "hyperparameters": hyper,
    }
