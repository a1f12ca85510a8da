"""The learning-rate range test on problems whose good learning rate is known (pure)."""

import math

import pytest
import torch

from torchstudio.probe.lrfind import STEPS, range_test, rate_at, steepest, suggestion
from torchstudio.train.loop import Cancelled, TrainingParts


class Tensors:
    """A batch source over two tensors (input, target)."""

    def __init__(self, inputs: torch.Tensor, targets: torch.Tensor) -> None:
        self.inputs, self.targets = inputs, targets

    def __len__(self) -> int:
        return len(self.inputs)

    def batches(self, batch_size, shuffle, generator):
        order = torch.randperm(len(self), generator=generator)
        for start in range(0, len(self), batch_size):
            picked = order[start : start + batch_size]
            yield [self.inputs[picked], self.targets[picked]]


def quadratic(scale: float, **options):
    """Least squares with SGD on inputs of variance scale²: the loss' curvature is 2·scale²,
    so the best constant learning rate is 1 / (2·scale²) (twice that diverges)."""
    torch.manual_seed(0)
    inputs = torch.randn(4096, 10) * scale
    targets = inputs @ torch.randn(10, 1) + 0.3 * torch.randn(4096, 1)
    model = torch.nn.Linear(10, 1, bias=False)
    before = model.weight.detach().clone()
    parts = TrainingParts(
        model, [torch.nn.MSELoss()], [], torch.optim.SGD(model.parameters(), lr=0.1)
    )
    test = range_test(
        parts, Tensors(inputs, targets), [0], [1], 64, torch.device("cpu"),
        torch.Generator().manual_seed(0), **options,
    )  # fmt: skip
    return test, before, model


@pytest.mark.parametrize("scale", [1.0, 3.0])
def test_the_suggestion_is_within_a_factor_of_3_of_the_known_best_rate(scale):
    test, before, model = quadratic(scale)
    best = 1 / (2 * scale**2)
    result = test.to_json()
    assert best / 3 <= result["suggestion"] <= best * 3, (result["suggestion"], best)
    assert result["stopped"].startswith("the loss diverged at learning rate")
    assert len(result["lrs"]) < STEPS  # it stopped on the divergence, not at the range's end
    assert result["lrs"] == sorted(result["lrs"]) and result["lrs"][0] == pytest.approx(1e-7)
    assert len(result["losses"]) == len(result["smoothed"]) == len(result["lrs"])
    assert result["steepest"] is not None and result["steepest"] < result["lrs"][-1]
    assert not torch.equal(model.weight, before)  # the copy it got was trained


def test_ramp_suggestions_on_short_curves_and_cancel():
    assert rate_at(0, 100, 1e-6, 1.0) == pytest.approx(1e-6)
    assert rate_at(99, 100, 1e-6, 1.0) == pytest.approx(1.0)
    assert math.isclose(rate_at(50, 101, 1e-6, 1.0), 1e-3)
    assert suggestion([1e-3, 1e-2], [1.0, 0.5]) is None and steepest([1.0], [1.0]) is None
    lrs = [10.0**e for e in range(-6, 1)]
    assert suggestion(lrs, [5, 5, 4, 2, 1, 3, 9]) == pytest.approx(1e-2 / 3)
    with pytest.raises(Cancelled):
        quadratic(1.0, cancelled=lambda: True)
    with pytest.raises(ValueError, match="the range must grow"):
        quadratic(1.0, start=1.0, end=0.1)
    short, _, _ = quadratic(1.0, steps=20, end=1e-3)
    assert short.stopped == "end of the range" and len(short.lrs) == 20
