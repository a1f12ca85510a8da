"""The training loop: one pass over a split, training or validating. Plain PyTorch.

Everything the user configured arrives as code chunks (loss, metric, optimizer,
scheduler); `build_parts` runs them once, and `run_pass` is the loop itself.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from torch import nn

from torchstudio.data.padding import unstacked_message
from torchstudio.metricadapter import MetricAdapter
from torchstudio.modules import format_user_error, safe_exec
from torchstudio.train.batches import BatchSource, to_device
from torchstudio.train.device import Precision
from torchstudio.train.settings import TrainSettings
from torchstudio.worker import UserError


class TrainingError(UserError):
    """Training cannot go on; the message says why, for the user."""


class Cancelled(TrainingError):
    """The user stopped the run."""


@dataclass
class TrainingParts:
    model: nn.Module
    losses: list[nn.Module]
    metrics: list[MetricAdapter]
    optimizer: torch.optim.Optimizer
    scheduler: Any | None = None
    step_every_batch: bool = False  # schedulers such as OneCycle step per batch
    schedule_free: bool = False  # schedule-free optimizers switch modes with the model
    runner: nn.Module | None = None  # the compiled model the passes call (None: `model`)
    channels_last: bool = False  # image inputs go in the channels-last layout
    layout_proven: bool = False  # the model ran once in that layout

    @property
    def metric_higher(self) -> bool:
        """Whether a higher validation metric is better (False: every metric is an error)."""
        return metrics_higher(self.metrics)


def metrics_higher(metrics: list[MetricAdapter]) -> bool:
    """Whether higher values of these metrics are better: yes unless every one says it is
    an error (torchmetrics' `higher_is_better = False`: MAE, MSE...)."""
    return not metrics or any(m.higher_is_better for m in metrics)


@dataclass
class PassResult:
    loss: float
    metric: float | None
    samples: int
    seconds: float
    batches: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class PassSync(Protocol):
    """Sums a pass's figures over the ranks of a distributed job (one process: identity)."""

    def totals(self, loss_sum: float, samples: int) -> tuple[float, int]: ...

    def metric(self, value: float | None, samples: int) -> float | None: ...


def _run_chunk(code: str, name: str, namespace: dict[str, Any], what: str) -> Any:
    result = safe_exec(code, namespace=dict(namespace), description=f"{what} code")
    if not result.ok:
        raise TrainingError(result.error)
    if result.namespace.get(name) is None:
        raise TrainingError(f"the {what} code must define `{name}`")
    return result.namespace[name]


def make_metrics(codes: list[str], context: dict[str, Any]) -> list[MetricAdapter]:
    """The metrics the metric chunks define, each behind one interface."""
    metrics = []
    for code in codes:
        metric = _run_chunk(code, "metric", context, "metric")
        try:
            metrics.append(MetricAdapter(metric))
        except TypeError as exc:
            raise TrainingError(f"the metric code defines an unusable `metric`: {exc}") from exc
    return metrics


def build_parts(
    model: nn.Module, settings: TrainSettings, steps_per_epoch: int, device: torch.device
) -> TrainingParts:
    """Run the loss, metric, optimizer and scheduler chunks against the model."""
    context = {"model": model, "epochs": settings.epochs, "steps_per_epoch": steps_per_epoch}
    losses = [_run_chunk(code, "loss", context, "loss").to(device) for code in settings.loss]
    metrics = make_metrics(settings.metric, context)
    optimizer = _run_chunk(settings.optimizer, "optimizer", context, "optimizer")
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TrainingError(f"`optimizer` is a {type(optimizer).__name__}, not a torch optimizer")
    scheduler = None
    if settings.scheduler.strip():
        scheduler = _run_chunk(
            settings.scheduler, "scheduler", {**context, "optimizer": optimizer}, "scheduler"
        )
    return TrainingParts(
        model=model,
        losses=losses,
        metrics=metrics,
        optimizer=optimizer,
        scheduler=scheduler,
        step_every_batch=bool(getattr(scheduler, "step_every_batch", False)),
        schedule_free=bool(getattr(optimizer, "needs_train_eval", False)),
    )


def as_list(outputs: Any) -> list[Any]:
    return list(outputs) if isinstance(outputs, tuple | list) else [outputs]


def _shape(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return "×".join(str(d) for d in value.shape) or "scalar"
    return f"list of {len(value)}"


def compute_loss(parts: TrainingParts, outputs: list[Any], targets: list[Any]) -> torch.Tensor:
    """The sum of each output's loss; a shape problem names both shapes and the loss."""
    if len(outputs) != len(targets) or len(outputs) != len(parts.losses):
        raise TrainingError(
            f"the model gives {len(outputs)} output(s), the dataset has {len(targets)} output "
            f"tensor(s) and {len(parts.losses)} loss(es) are set: they must be equal"
        )
    total: torch.Tensor | None = None
    for index, (loss_fn, output, target) in enumerate(
        zip(parts.losses, outputs, targets, strict=True)
    ):
        try:
            value = loss_fn(output, target)
        except (RuntimeError, ValueError, IndexError) as exc:
            raise TrainingError(
                f"{type(loss_fn).__name__} failed on output {index} of shape {_shape(output)} "
                f"and target of shape {_shape(target)}: {exc}"
            ) from exc
        total = value if total is None else total + value
    assert total is not None
    return total


def is_out_of_memory(exc: BaseException) -> bool:
    """A failed allocation: Python's MemoryError, CUDA's, or the CPU allocator's RuntimeError."""
    if isinstance(exc, MemoryError | torch.OutOfMemoryError):
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and (
        "can't allocate memory" in text or "out of memory" in text.lower()
    )


def out_of_memory_text(
    exc: BaseException,
    epoch: int,
    train: bool,
    batch_index: int,
    settings: TrainSettings,
    device: torch.device,
) -> str:
    """Say where memory ran out and what to change; the user's line comes after."""
    phase = "training" if train else "validation"
    return (
        f"out of memory at epoch {epoch}, {phase} batch {batch_index} (batch size "
        f"{settings.batch_size} on {device}): try a smaller batch size or model\n"
        + format_user_error(exc, "the training step")
    )


# Batches between two reads of the loss on an accelerator (each read waits for the device).
SYNC_EVERY = 32


def as_channels_last(tensor: Any) -> Any:
    """An image batch (N x C x H x W) in the channels-last layout; anything else as it is."""
    if isinstance(tensor, torch.Tensor) and tensor.dim() == 4:
        return tensor.contiguous(memory_format=torch.channels_last)
    return tensor


def call_model(parts: TrainingParts, net: nn.Module, inputs: list[Any]) -> Any:
    """`net` on the inputs, channels-last when the parts say so.

    A model that reshapes its feature maps with `.view` fails on channels-last tensors: then
    the model goes back to the usual layout (before any step, so no state was made in the
    other one) and the call is made again.
    """
    if not parts.channels_last:
        return net(*inputs)
    try:
        outputs = net(*[as_channels_last(t) for t in inputs])
    except RuntimeError:
        if parts.layout_proven:
            raise
        parts.channels_last = False
        parts.model.to(memory_format=torch.contiguous_format)
        return net(*inputs)
    parts.layout_proven = True
    return outputs


def _check_finite(loss_sum: torch.Tensor, epoch: int, train: bool, first: int, last: int) -> None:
    """Stop when the summed loss is no longer finite, naming the batch (or batches) read."""
    value = float(loss_sum)
    if math.isfinite(value):
        return
    phase = "training" if train else "validation"
    where = f"batch {first}" if first >= last else f"batches {first} to {last}"
    raise TrainingError(
        f"the loss became {value} at epoch {epoch}, {phase} {where}: "
        "training stopped (a lower learning rate, or checking the data, may help)"
    )


def run_pass(
    parts: TrainingParts,
    source: BatchSource,
    settings: TrainSettings,
    device: torch.device,
    precision: Precision,
    generator: torch.Generator,
    train: bool,
    epoch: int,
    cancelled: Callable[[], bool] = lambda: False,
    on_batch: Callable[[int], None] | None = None,
    sync: PassSync | None = None,
) -> PassResult:
    """One pass over a split: forward, loss, and (when training) backward and step.

    A distributed job passes its rank's shard as `source` (batches may carry `samples`,
    the real sample count, and `loss_scale`, see `ddp.shard`) and `sync`, which turns the
    rank's loss and metric into the job's.
    """
    model, optimizer = parts.model, parts.optimizer
    net = parts.runner or model  # a compiled form of the model, sharing its parameters
    model.train(train)
    net.train(train)
    if parts.schedule_free:
        optimizer.train() if train else optimizer.eval()  # type: ignore[attr-defined]
    for metric in parts.metrics:
        metric.reset()
    started = time.perf_counter()
    # The loss is summed on the device and read every `check_every` batches: on a GPU each
    # read waits for the queued work (on the CPU nothing is queued, so it reads every batch
    # and a non-finite loss names its batch).
    check_every = 1 if device.type == "cpu" else SYNC_EVERY
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    samples, batch_index, checked = 0, 0, 0
    # Validation keeps no autograd record at all (inference mode); training records it.
    with torch.enable_grad() if train else torch.inference_mode():
        for batch_index, batch in enumerate(
            source.batches(settings.batch_size, train and settings.shuffle, generator)
        ):
            if cancelled():
                raise Cancelled(f"training stopped during epoch {epoch}")
            try:
                unstacked = unstacked_message(batch, [*settings.input_ids, *settings.output_ids])
                if unstacked:  # not a deep TypeError from inside torch
                    raise TrainingError(unstacked)
                inputs = [to_device(batch[i], device) for i in settings.input_ids]
                targets = [to_device(batch[i], device) for i in settings.output_ids]
                with precision.autocast():
                    outputs = as_list(call_model(parts, net, inputs))
                    loss = compute_loss(parts, outputs, targets)
                scale = getattr(batch, "loss_scale", 1.0)
                if train:
                    optimizer.zero_grad(set_to_none=True)
                    if precision.scaler is not None:
                        precision.scaler.scale(loss * scale).backward()
                        precision.scaler.step(optimizer)
                        precision.scaler.update()
                    else:
                        (loss * scale if scale != 1.0 else loss).backward()
                        optimizer.step()
                    if parts.scheduler is not None and parts.step_every_batch:
                        parts.scheduler.step()
            except Exception as exc:
                if not is_out_of_memory(exc):
                    raise
                raise TrainingError(
                    out_of_memory_text(exc, epoch, train, batch_index, settings, device)
                ) from exc
            if on_batch is not None:
                on_batch(batch_index)
            count = getattr(batch, "samples", None)
            count = len(targets[0]) if count is None else count
            if count:  # 0: a stand-in sample that only let this rank join the step
                loss_sum += loss.detach() * count
                samples += count
                for metric, output, target in zip(parts.metrics, outputs, targets, strict=False):
                    metric.update(output.detach().float(), target)
            if (batch_index + 1 - checked) >= check_every:
                _check_finite(loss_sum, epoch, train, checked, batch_index)
                checked = batch_index + 1
    if samples:
        _check_finite(loss_sum, epoch, train, checked, batch_index)
    total_loss = float(loss_sum)
    local_samples = samples
    if sync is not None:
        total_loss, samples = sync.totals(total_loss, samples)
    metric_values = []
    if samples:
        for metric in parts.metrics:
            computed = metric.compute() if local_samples else None
            metric_values.append(computed if sync is None else sync.metric(computed, local_samples))
    known = [v for v in metric_values if v is not None]
    return PassResult(
        loss=total_loss / max(samples, 1),
        metric=sum(known) / len(known) if known else None,
        samples=samples,
        seconds=time.perf_counter() - started,
        batches=batch_index + 1 if samples else 0,
    )
