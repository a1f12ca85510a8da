"""Binary cross entropy loss for binary and multi-label classification."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.modules.loss import _Loss


class BinaryCrossEntropy(_Loss):
    """Binary cross entropy between logits and 0/1 targets of the same shape.

    The model outputs raw logits (no sigmoid): the sigmoid is applied here, which is more
    stable. `weights` are per-label positive weights (`pos_weight`), for example the
    negative/positive ratios found by an analyzer, to balance rare labels.
    """

    def __init__(self, weights: list[float] | None = None, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)
        self.register_buffer(
            "pos_weight", None if weights is None else torch.tensor(weights, dtype=torch.float32)
        )

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        target = target.to(input.dtype)
        if target.shape != input.shape and target.numel() == input.numel():
            target = target.reshape(input.shape)  # N vs N x 1 targets
        return nn.functional.binary_cross_entropy_with_logits(
            input, target, pos_weight=self.pos_weight, reduction=self.reduction
        )
