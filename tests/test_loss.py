"""The built-in losses: values against torch's functional losses, class weights, gradients."""

import pytest
import torch
from torch import nn

from torchstudio.loss import (
    BinaryCrossEntropy,
    CrossEntropy,
    MeanAbsoluteError,
    MeanSquareError,
    SmoothMeanAbsoluteError,
)


def test_cross_entropy_with_class_weights_and_column_targets():
    torch.manual_seed(0)
    logits = torch.randn(16, 3, requires_grad=True)
    target = torch.randint(0, 3, (16,))
    weights = [0.2, 1.0, 3.0]
    value = CrossEntropy(weights=weights)(logits, target)
    expected = nn.functional.cross_entropy(logits, target, weight=torch.tensor(weights))
    assert torch.allclose(value, expected)
    # Datasets often yield N x 1 index targets.
    assert torch.allclose(CrossEntropy(weights=weights)(logits, target[:, None]), expected)
    value.backward()
    assert logits.grad is not None


def test_cross_entropy_unweighted_and_segmentation_shapes():
    logits = torch.randn(2, 4, 5, 5)
    target = torch.randint(0, 4, (2, 5, 5))
    expected = nn.functional.cross_entropy(logits, target, label_smoothing=0.1)
    assert torch.allclose(CrossEntropy(label_smoothing=0.1)(logits, target), expected)


def test_binary_cross_entropy_with_pos_weights():
    torch.manual_seed(0)
    logits = torch.randn(8, 3, requires_grad=True)
    target = torch.randint(0, 2, (8, 3))
    weights = [1.0, 2.0, 0.5]
    value = BinaryCrossEntropy(weights=weights)(logits, target)
    expected = nn.functional.binary_cross_entropy_with_logits(
        logits, target.float(), pos_weight=torch.tensor(weights)
    )
    assert torch.allclose(value, expected)
    value.backward()
    assert logits.grad is not None
    # Binary N x 1 outputs against N targets.
    single = BinaryCrossEntropy()(logits[:, :1], target[:, 0])
    assert single.shape == ()


def test_class_weights_follow_the_module_to_another_dtype_or_device():
    loss = CrossEntropy(weights=[1.0, 2.0])
    assert "weight" in dict(loss.named_buffers())
    assert loss.to(torch.float64).weight.dtype == torch.float64


@pytest.mark.parametrize(
    ("loss", "function"),
    [
        (MeanAbsoluteError(), nn.functional.l1_loss),
        (MeanSquareError(), nn.functional.mse_loss),
        (SmoothMeanAbsoluteError(), nn.functional.smooth_l1_loss),
    ],
)
def test_regression_losses(loss, function):
    prediction = torch.randn(4, 2, 7, requires_grad=True)
    target = torch.randn(4, 2, 7)
    value = loss(prediction, target)
    assert torch.allclose(value, function(prediction, target))
    value.backward()
    assert prediction.grad is not None


def test_reduction_setting():
    prediction, target = torch.randn(5, 3), torch.randn(5, 3)
    assert MeanSquareError(reduction="sum")(prediction, target).shape == ()
    assert MeanAbsoluteError(reduction="none")(prediction, target).shape == (5, 3)
