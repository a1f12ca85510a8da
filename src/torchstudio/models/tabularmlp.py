"""A small multilayer perceptron for table rows."""

from __future__ import annotations

import torch
from torch import nn


class TabularMLP(nn.Module):
    """Dense layers for a feature vector (the Table dataset's rows).

    Outputs N x `outputs`: class logits (a cross entropy loss) or, with `outputs` 1 for a
    regression, one value per row (N, squeezed, to match a 0-d target).
    """

    def __init__(self, inputs: int = 8, outputs: int = 2, hidden: int = 64, dropout: float = 0.1):
        super().__init__()
        self.outputs = outputs
        self.layers = nn.Sequential(
            nn.Linear(inputs, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, outputs),
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        result = self.layers(features)
        return result[:, 0] if self.outputs == 1 else result
