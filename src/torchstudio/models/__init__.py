"""Built-in models."""

from torchstudio.models.mnist_classifier import MNISTClassifier
from torchstudio.models.resnet import ResNet
from torchstudio.models.tabularmlp import TabularMLP
from torchstudio.models.textbag import TextBag
from torchstudio.models.unet1d import UNet1D
from torchstudio.models.unet2d import UNet2D

__all__ = ["MNISTClassifier", "ResNet", "TabularMLP", "TextBag", "UNet1D", "UNet2D"]
