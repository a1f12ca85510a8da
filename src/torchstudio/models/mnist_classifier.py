"""A small convolutional classifier for digit images."""

from __future__ import annotations

import torch
from torch import nn


class MNISTClassifier(nn.Module):
    """Two convolution blocks and two dense layers, for small single-object images.

    Works on any image size from 8 x 8 (scikit-learn Digits) upward (28 x 28 MNIST...):
    adaptive pooling brings the feature maps to 4 x 4 before the dense layers.
    Outputs class logits (N x `num_classes`), for a cross entropy loss.
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 10,
        channels: int = 32,
        hidden: int = 128,
        dropout: float = 0.25,
    ) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, channels, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels * 2, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            # Fixed 4 x 4 maps whatever the input size, so one model fits 8 x 8 and 28 x 28.
            nn.AdaptiveAvgPool2d(4),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(channels * 2 * 16, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))
