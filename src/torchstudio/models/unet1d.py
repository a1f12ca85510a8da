"""U-Net for 1-D signals."""

from __future__ import annotations

from torchstudio.models._unet import UNet


class UNet1D(UNet):
    """U-Net for signals (N x `in_channels` x L), for example denoising or segmentation.

    Returns N x `out_channels` x L: the output has the input's length, whether or not L is a
    multiple of 2 ** `depth`. `channels` is the width of the first level, doubled per level.
    """

    def __init__(
        self, in_channels: int = 1, out_channels: int = 1, channels: int = 16, depth: int = 3
    ) -> None:
        super().__init__(1, in_channels, out_channels, channels, depth)
