"""U-Net for images."""

from __future__ import annotations

from torchstudio.models._unet import UNet


class UNet2D(UNet):
    """U-Net for images (N x `in_channels` x H x W), for segmentation or image-to-image tasks.

    Returns N x `out_channels` x H x W: the output has the input's size, whether or not H and W
    are multiples of 2 ** `depth`. `channels` is the width of the first level, doubled per
    level.
    """

    def __init__(
        self, in_channels: int = 3, out_channels: int = 1, channels: int = 16, depth: int = 3
    ) -> None:
        super().__init__(2, in_channels, out_channels, channels, depth)
