"""The U-Net shared by `UNet1D` and `UNet2D`, written once for any number of dimensions."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional

_CONV = {1: nn.Conv1d, 2: nn.Conv2d}
_UPCONV = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d}
_POOL = {1: nn.MaxPool1d, 2: nn.MaxPool2d}


def _double_conv(dims: int, in_channels: int, out_channels: int) -> nn.Sequential:
    # GroupNorm rather than BatchNorm: the deepest maps can be 1 pixel wide, and a batch of
    # one sample must still train.
    groups = math.gcd(8, out_channels)
    return nn.Sequential(
        _CONV[dims](in_channels, out_channels, 3, padding=1),
        nn.GroupNorm(groups, out_channels),
        nn.ReLU(inplace=True),
        _CONV[dims](out_channels, out_channels, 3, padding=1),
        nn.GroupNorm(groups, out_channels),
        nn.ReLU(inplace=True),
    )


class UNet(nn.Module):
    """Encoder-decoder with skip connections over `dims` spatial dimensions (1 or 2).

    Inputs whose sizes are not multiples of 2 ** `depth` are zero-padded on the far side,
    and the output is cropped back to the input's size.
    """

    def __init__(
        self, dims: int, in_channels: int, out_channels: int, channels: int, depth: int
    ) -> None:
        super().__init__()
        if dims not in _CONV:
            raise ValueError(f"dims must be 1 or 2, not {dims}")
        if depth < 0:
            raise ValueError(f"depth must be 0 or more, not {depth}")
        self.dims = dims
        self.depth = depth
        widths = [channels * 2**level for level in range(depth + 1)]
        self.down = nn.ModuleList()
        previous = in_channels
        for width in widths:
            self.down.append(_double_conv(dims, previous, width))
            previous = width
        self.pool = _POOL[dims](2)
        self.upsample = nn.ModuleList()
        self.up = nn.ModuleList()
        for width in reversed(widths[:-1]):
            self.upsample.append(_UPCONV[dims](width * 2, width, 2, stride=2))
            self.up.append(_double_conv(dims, width * 2, width))
        self.head = _CONV[dims](widths[0], out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sizes = x.shape[2:]
        multiple = 2**self.depth
        padding: list[int] = []
        # F.pad lists the last dimension first, (before, after) for each.
        for size in reversed(sizes):
            padding += [0, (-size) % multiple]
        if any(padding):
            x = functional.pad(x, padding)
        skips = []
        for level, block in enumerate(self.down):
            if level:
                x = self.pool(x)
            x = block(x)
            skips.append(x)
        skips.pop()  # the bottom level feeds the decoder directly
        for upsample, block in zip(self.upsample, self.up, strict=True):
            x = block(torch.cat([upsample(x), skips.pop()], dim=1))
        x = self.head(x)
        crop = (slice(None), slice(None), *(slice(0, size) for size in sizes))
        return x[crop]
