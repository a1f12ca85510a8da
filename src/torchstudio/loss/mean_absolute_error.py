"""Mean absolute error (L1) loss for regression."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.modules.loss import _Loss


class MeanAbsoluteError(_Loss):
    """Mean absolute difference between prediction and target (L1 loss)."""

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return nn.functional.l1_loss(input, target.to(input.dtype), reduction=self.reduction)
