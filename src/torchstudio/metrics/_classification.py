"""Shared logic of the classification metrics: task inference and the torchmetrics wrapper."""

from __future__ import annotations

from typing import Any

import torch

from torchstudio.modules import Metric

TASKS = ("auto", "binary", "multiclass", "multilabel")
AVERAGES = ("micro", "macro", "weighted")


def infer_task(preds: torch.Tensor, target: torch.Tensor) -> str:
    """Guess the classification task from the shapes and dtypes of one batch.

    preds N x C (x ...) float with target N (x ...) integer -> multiclass (logits);
    preds and target of the same shape N or N x 1 -> binary;
    preds N x L float with target N x L -> multilabel;
    preds and target integer of the same shape with values above 1 -> multiclass (indices).
    """
    if preds.dim() == target.dim() + 1 or (
        preds.dim() == target.dim() == 2 and target.shape[1] == 1 and preds.shape[1] > 1
    ):
        return "multiclass"
    if preds.shape == target.shape:
        if preds.is_floating_point():
            if preds.dim() >= 2 and preds.shape[1] > 1:
                return "multilabel"
            return "binary"
        # Integer predictions of the same shape as the target are class indices.
        highest = max(int(preds.max()), int(target.max())) if preds.numel() else 0
        return "multiclass" if highest > 1 else "binary"
    raise ValueError(
        f"Cannot infer the classification task from preds of shape {tuple(preds.shape)} "
        f"and target of shape {tuple(target.shape)}; set `task` explicitly"
    )


class ClassificationMetric(Metric):
    """Base of the classification metrics: wraps a task-specific torchmetrics object.

    The torchmetrics object is created on the first `update`, once the task and the number of
    classes or labels can be inferred from the batch, and it accumulates over batches until
    `reset`. Subclasses set `_torchmetrics_name` and may add keyword arguments in `_extra`.
    """

    _torchmetrics_name = ""

    def __init__(
        self,
        task: str = "auto",
        threshold: float = 0.5,
        average: str = "micro",
        num_classes: int | None = None,
        num_labels: int | None = None,
    ) -> None:
        if task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, not {task!r}")
        if average not in AVERAGES:
            raise ValueError(f"average must be one of {AVERAGES}, not {average!r}")
        self.task = task
        self.threshold = threshold
        self.average = average
        self.num_classes = num_classes
        self.num_labels = num_labels
        self._metric: Any = None
        self._task: str | None = None

    def _extra(self) -> dict[str, Any]:
        return {}

    def _prepare(self, preds: Any, target: Any) -> tuple[str, torch.Tensor, torch.Tensor]:
        preds = torch.as_tensor(preds).detach()
        target = torch.as_tensor(target).detach()
        task = self._task or (infer_task(preds, target) if self.task == "auto" else self.task)
        if task == "binary" and self.task == "auto" and (self.num_classes or 0) > 2:
            task = "multiclass"  # index predictions whose first batch only held classes 0 and 1
        squeezable = target.dim() == preds.dim() >= 2 and target.shape[1] == 1
        if task == "multiclass" and squeezable and preds.is_floating_point():
            target = target.squeeze(1)  # N x 1 index targets next to N x C logits
        if task == "binary" and preds.dim() == 2 and preds.shape[1] == 1:
            preds, target = preds.squeeze(1), target.reshape(-1)
        if not target.is_floating_point() or task != "binary":
            target = target.long()
        else:
            target = (target >= 0.5).long()  # soft 0/1 targets stored as floats
        return task, preds, target

    def _create(self, task: str, preds: torch.Tensor, target: torch.Tensor) -> Any:
        import torchmetrics

        kwargs: dict[str, Any] = {"task": task, "threshold": self.threshold}
        if task == "multiclass":
            num_classes = self.num_classes
            if num_classes is None:
                # Logits give the class count; indices only give a lower bound on it.
                if preds.is_floating_point():
                    num_classes = preds.shape[1]
                else:
                    num_classes = max(int(preds.max()), int(target.max())) + 1
            kwargs.update(num_classes=num_classes, average=self.average)
        elif task == "multilabel":
            kwargs.update(num_labels=self.num_labels or preds.shape[1], average=self.average)
        kwargs.update(self._extra())
        return getattr(torchmetrics, self._torchmetrics_name)(**kwargs).to(preds.device)

    def update(self, preds: Any, target: Any) -> None:
        task, preds, target = self._prepare(preds, target)
        if self._metric is None:
            self._task = task
            self._metric = self._create(task, preds, target)
        self._metric.update(preds, target)

    def compute(self) -> float:
        if self._metric is None:
            return 0.0  # nothing seen yet
        return float(self._metric.compute())

    def reset(self) -> None:
        if self._metric is not None:
            self._metric.reset()
