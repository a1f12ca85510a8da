"""One interface for the three metric styles the trainer accepts.

- torchstudio metrics (`torchstudio.modules.Metric`): `update(preds, target)`;
- torchmetrics metrics (`torchmetrics.Metric`): `update(preds, target)`, states on a device;
- ignite-style metrics: `update((y_pred, y))` with ONE tuple argument.

The style is detected from the object's structure, so ignite need not be installed.
"""

from __future__ import annotations

import inspect
from typing import Any

from torchstudio.modules import Metric

__all__ = ["MetricAdapter", "metric_style"]


def _is_torchmetrics(metric: Any) -> bool:
    # Checked by class name along the MRO, so that torchmetrics is not imported for nothing.
    return any(
        cls.__name__ == "Metric" and cls.__module__.startswith("torchmetrics")
        for cls in type(metric).__mro__
    )


def _positional_arity(function: Any) -> int | None:
    """Number of positional parameters of a bound method, or None when it takes *args."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return None
    count = 0
    for parameter in signature.parameters.values():
        if parameter.kind is parameter.VAR_POSITIONAL:
            return None
        if parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD):
            count += 1
    return count


def metric_style(metric: Any) -> str:
    """'torchstudio', 'torchmetrics' or 'ignite', from the metric's structure."""
    for name in ("update", "compute", "reset"):
        if not callable(getattr(metric, name, None)):
            raise TypeError(f"{type(metric).__name__} is not a metric: it has no {name}()")
    if isinstance(metric, Metric):
        return "torchstudio"
    if _is_torchmetrics(metric):
        return "torchmetrics"
    # Ignite's update takes one `output` tuple; anything taking two arguments is (preds, target).
    return "ignite" if _positional_arity(metric.update) == 1 else "torchstudio"


def _to_float(value: Any) -> float:
    if hasattr(value, "detach"):
        value = value.detach()
        # Per-class results (average=None) are summarised by their mean: the trainer plots one curve.
        return float(value.float().mean()) if value.numel() != 1 else float(value)
    if isinstance(value, list | tuple):
        return sum(float(v) for v in value) / len(value) if value else 0.0
    return float(value)


class MetricAdapter:
    """Wrap a metric of any supported style behind `update(preds, target)`, `compute()`, `reset()`.

    `compute` always returns a float. torchmetrics metrics are moved to the device of the
    first predictions they see, as their states must live beside the inputs.
    """

    def __init__(self, metric: Any) -> None:
        self.metric = metric
        self.style = metric_style(metric)
        self._device: Any = None

    def update(self, preds: Any, target: Any) -> None:
        if self.style == "ignite":
            self.metric.update((preds, target))
            return
        if self.style == "torchmetrics":
            device = getattr(preds, "device", None)
            if device is not None and device != self._device:
                self.metric.to(device)
                self._device = device
        self.metric.update(preds, target)

    @property
    def higher_is_better(self) -> bool:
        """Whether a higher value is better: the metric's own `higher_is_better` (torchmetrics
        sets it; False for errors such as MAE), else yes."""
        return getattr(self.metric, "higher_is_better", True) is not False

    def compute(self) -> float:
        return _to_float(self.metric.compute())

    def reset(self) -> None:
        self.metric.reset()
