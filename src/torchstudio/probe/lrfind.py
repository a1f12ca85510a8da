"""The learning-rate range test: train a few hundred batches with an exponentially growing
learning rate and watch the loss, on a copy of the model (its caller's weights stay).

The smoothed loss (an exponential moving average, debiased) against the learning rate
falls, flattens and then explodes. The suggestion is a third of the rate at its lowest
point: the average lags a few batches behind, and a rate near the lowest point is already
on the edge of instability (on a quadratic problem, whose best rate is known, it lands
within a factor of 2 of it). The rate where the loss falls fastest is given too (`steepest`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from torchstudio.train.batches import BatchSource, to_device
from torchstudio.train.loop import Cancelled, TrainingParts, as_list, compute_loss

START_LR = 1e-7
END_LR = 10.0
STEPS = 100
SMOOTHING = 0.9  # weight of the running average, per batch
DIVERGENCE = 4.0  # stop once the smoothed loss is this many times its lowest


@dataclass
class RangeTest:
    """The curve so far: one (learning rate, loss, smoothed loss) per batch."""

    lrs: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    smoothed: list[float] = field(default_factory=list)
    stopped: str = "end of the range"

    def to_json(self) -> dict[str, Any]:
        return {
            "lrs": self.lrs,
            "losses": self.losses,
            "smoothed": self.smoothed,
            "stopped": self.stopped,
            "suggestion": suggestion(self.lrs, self.smoothed),
            "steepest": steepest(self.lrs, self.smoothed),
        }


def rate_at(step: int, steps: int, start: float, end: float) -> float:
    """Step `step` of `steps` on the exponential ramp from `start` to `end`."""
    return start * (end / start) ** (step / max(1, steps - 1))


BELOW_LOWEST = 3.0  # the suggestion is the rate at the lowest smoothed loss divided by this


def suggestion(lrs: list[float], smoothed: list[float]) -> float | None:
    """A third of the rate at the lowest smoothed loss (None: too few batches to say)."""
    if len(smoothed) < 5:
        return None
    return float(lrs[int(np.argmin(smoothed))] / BELOW_LOWEST)


def steepest(lrs: list[float], smoothed: list[float]) -> float | None:
    """The rate where the smoothed loss falls fastest against log(rate), before its lowest
    point (the few first batches, still noisy, and the explosion are left out)."""
    if len(smoothed) < 5:
        return None
    lowest = int(np.argmin(smoothed))
    skip = max(1, lowest // 10)
    if lowest - skip < 2:
        return lrs[lowest]
    logs = np.log10(np.asarray(lrs[skip : lowest + 1]))
    values = np.asarray(smoothed[skip : lowest + 1])
    slopes = np.gradient(values, logs)
    return float(lrs[skip + int(np.argmin(slopes))])


def endless(source: BatchSource, batch_size: int, generator: torch.Generator) -> Iterator[Any]:
    """Batches of the split, shuffled, epoch after epoch (a short split is gone through again)."""
    while True:
        empty = True
        for batch in source.batches(batch_size, True, generator):
            empty = False
            yield batch
        if empty:
            return


def range_test(
    parts: TrainingParts,
    source: BatchSource,
    input_ids: list[int],
    output_ids: list[int],
    batch_size: int,
    device: torch.device,
    generator: torch.Generator,
    start: float = START_LR,
    end: float = END_LR,
    steps: int = STEPS,
    cancelled: Callable[[], bool] = lambda: False,
    progress: Callable[[float], None] = lambda fraction: None,
) -> RangeTest:
    """Train `parts.model` (a copy: it is changed) over `steps` batches from `start` to `end`."""
    if not 0 < start < end:
        raise ValueError(f"the range must grow: start {start:g}, end {end:g}")
    model, optimizer = parts.model, parts.optimizer
    model.train()
    if parts.schedule_free:
        optimizer.train()  # type: ignore[attr-defined]
    test, average, lowest = RangeTest(), 0.0, math.inf
    batches = endless(source, batch_size, generator)
    for step in range(steps):
        if cancelled():
            raise Cancelled("learning-rate range test stopped")
        batch = next(batches, None)
        if batch is None:
            test.stopped = "the training split is empty"
            break
        lr = rate_at(step, steps, start, end)
        for group in optimizer.param_groups:
            group["lr"] = lr
        inputs = [to_device(batch[i], device) for i in input_ids]
        targets = [to_device(batch[i], device) for i in output_ids]
        loss = compute_loss(parts, as_list(model(*inputs)), targets)
        value = float(loss.item())
        if not math.isfinite(value):
            test.stopped = f"the loss became {value} at learning rate {lr:.3g}"
            break
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        average = SMOOTHING * average + (1 - SMOOTHING) * value
        smooth = average / (1 - SMOOTHING ** (step + 1))
        test.lrs.append(lr)
        test.losses.append(value)
        test.smoothed.append(smooth)
        progress((step + 1) / steps)
        lowest = min(lowest, smooth)
        if step > 10 and smooth > DIVERGENCE * lowest:
            test.stopped = f"the loss diverged at learning rate {lr:.3g}"
            break
    return test
