"""Cross entropy loss for single-label classification."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.modules.loss import _Loss


class CrossEntropy(_Loss):
    """Cross entropy between class logits (N x C x ...) and class indices or probabilities.

    `weights` are per-class weights, for example those found by an analyzer to balance rare
    classes; `label_smoothing` spreads some of the target probability over every class.
    """

    def __init__(
        self,
        weights: list[float] | None = None,
        ignore_index: int = -100,
        reduction: str = "mean",
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__(reduction=reduction)
        # A buffer, so that the weights follow the loss to the model's device.
        self.register_buffer(
            "weight", None if weights is None else torch.tensor(weights, dtype=torch.float32)
        )
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if not target.is_floating_point():
            # Datasets often yield N x 1 index targets; cross entropy wants N.
            if target.dim() == input.dim() and target.shape[1] == 1:
                target = target.squeeze(1)
            target = target.long()
        return nn.functional.cross_entropy(
            input,
            target,
            weight=self.weight,
            ignore_index=self.ignore_index,
            reduction=self.reduction,
            label_smoothing=self.label_smoothing,
        )
