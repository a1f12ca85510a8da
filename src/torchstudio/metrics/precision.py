"""Precision metric for binary, multiclass and multilabel classification."""

from __future__ import annotations

from torchstudio.metrics._classification import ClassificationMetric


class Precision(ClassificationMetric):
    """Fraction of positive predictions that are correct, computed with torchmetrics over every batch since `reset`.

    `task` is 'binary', 'multiclass', 'multilabel' or 'auto' (inferred from the first batch:
    N x C float preds with N integer targets is multiclass, N or N x 1 preds with a target of
    the same shape is binary, N x L float preds with N x L 0/1 targets is multilabel).
    Probabilities or logits (sigmoid applied when outside [0, 1]) are compared with
    `threshold` for binary and multilabel tasks. `average` ('micro', 'macro', 'weighted')
    combines classes or labels. `num_classes` / `num_labels` are taken from the first
    batch when not given (give `num_classes` when predictions are class indices).
    """

    _torchmetrics_name = "Precision"

    def __init__(
        self,
        task: str = "auto",
        threshold: float = 0.5,
        average: str = "macro",
        num_classes: int | None = None,
        num_labels: int | None = None,
    ) -> None:
        super().__init__(task, threshold, average, num_classes, num_labels)
