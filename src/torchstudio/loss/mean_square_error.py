"""Mean squared error (L2) loss for regression."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.modules.loss import _Loss


class MeanSquareError(_Loss):
    """Mean squared difference between prediction and target (MSE loss)."""

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return nn.functional.mse_loss(input, target.to(input.dtype), reduction=self.reduction)
