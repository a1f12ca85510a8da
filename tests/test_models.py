"""The built-in models: forward and backward passes on the shapes they are meant for."""

import pytest
import torch

from torchstudio.loss import CrossEntropy, MeanSquareError
from torchstudio.models import MNISTClassifier, ResNet, UNet1D, UNet2D


def _train_step(model, inputs, target, loss):
    model.train()
    output = model(inputs)
    value = loss(output, target)
    value.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)
    return output


@pytest.mark.parametrize("size", [8, 28])
def test_mnist_classifier_on_digits_and_mnist_sizes(size):
    torch.manual_seed(0)
    model = MNISTClassifier()
    output = _train_step(
        model, torch.randn(4, 1, size, size), torch.randint(0, 10, (4,)), CrossEntropy()
    )
    assert output.shape == (4, 10)


def test_mnist_classifier_settings():
    model = MNISTClassifier(in_channels=3, num_classes=5, channels=8)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 5)


@pytest.mark.parametrize(
    ("in_channels", "size", "layers"),
    [(1, 8, (2, 2, 2)), (1, 28, (1, 1)), (3, 32, (2, 2, 2, 2))],
)
def test_resnet_on_image_sizes(in_channels, size, layers):
    torch.manual_seed(0)
    model = ResNet(in_channels=in_channels, num_classes=10, layers=layers, channels=8)
    output = _train_step(
        model,
        torch.randn(3, in_channels, size, size),
        torch.randint(0, 10, (3,)),
        CrossEntropy(),
    )
    assert output.shape == (3, 10)


@pytest.mark.parametrize("length", [64, 100, 7])
def test_unet1d_keeps_the_signal_length(length):
    model = UNet1D(in_channels=2, out_channels=3, channels=4, depth=3)
    output = _train_step(
        model, torch.randn(2, 2, length), torch.randn(2, 3, length), MeanSquareError()
    )
    assert output.shape == (2, 3, length)


@pytest.mark.parametrize(("height", "width"), [(32, 32), (8, 8), (13, 21), (1, 5)])
def test_unet2d_keeps_the_image_size(height, width):
    model = UNet2D(in_channels=3, out_channels=2, channels=4, depth=2)
    inputs = torch.randn(1, 3, height, width)
    output = _train_step(model, inputs, torch.randint(0, 2, (1, height, width)), CrossEntropy())
    assert output.shape == (1, 2, height, width)


def test_unet_depth_zero_and_invalid_settings():
    assert UNet2D(in_channels=1, channels=4, depth=0)(torch.randn(1, 1, 5, 5)).shape == (
        1,
        1,
        5,
        5,
    )
    with pytest.raises(ValueError, match="depth"):
        UNet1D(depth=-1)
