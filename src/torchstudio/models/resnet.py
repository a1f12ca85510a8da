"""A small ResNet-style image classifier."""

from __future__ import annotations

import torch
from torch import nn


class _Block(nn.Module):
    """Two 3 x 3 convolutions plus the input (projected when its shape changes)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
        )
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )
        self.activation = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activation(self.body(x) + self.shortcut(x))


class ResNet(nn.Module):
    """Residual image classifier: a 3 x 3 stem, then stages of residual blocks.

    `layers` gives the number of blocks per stage; each stage after the first halves the
    resolution and doubles the width, starting from `channels`. Global average pooling makes
    it work on any image size (8 x 8 Digits, 28 x 28, 32 x 32...). Outputs class logits.
    """

    def __init__(
        self,
        in_channels: int = 3,
        num_classes: int = 10,
        layers: tuple[int, ...] = (2, 2, 2),
        channels: int = 32,
    ) -> None:
        super().__init__()
        # A small stem (no 7 x 7 stride-2 convolution and max pooling as in ImageNet ResNets):
        # the built-in datasets have small images.
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
        )
        blocks: list[nn.Module] = []
        width = channels
        for stage, count in enumerate(layers):
            out_width = channels * 2**stage
            for index in range(count):
                stride = 2 if stage > 0 and index == 0 else 1
                blocks.append(_Block(width, out_width, stride))
                width = out_width
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.stem(x))
        return self.fc(torch.flatten(self.pool(x), 1))
