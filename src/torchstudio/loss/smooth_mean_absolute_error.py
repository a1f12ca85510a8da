"""Smooth L1 loss: squared near zero, absolute further away."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.modules.loss import _Loss


class SmoothMeanAbsoluteError(_Loss):
    """Smooth L1 loss: quadratic below `beta`, linear above, so outliers weigh less than in MSE."""

    def __init__(self, beta: float = 1.0, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)
        self.beta = beta

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return nn.functional.smooth_l1_loss(
            input, target.to(input.dtype), reduction=self.reduction, beta=self.beta
        )
