"""The interpretation's figures on outputs whose right answer is known (pure, no workers)."""

import numpy as np
import pytest
import torch

from torchstudio.loss import CrossEntropy
from torchstudio.probe.collect import per_sample_loss
from torchstudio.probe.interpretation import (
    cell_samples,
    interpret,
    sample_row,
    small_mask,
    summary,
    task_of,
)


def confusing_classifier(count: int = 400, classes: int = 6, seed: int = 0):
    """Logits of a classifier right on every class but 3, which it always calls 5."""
    rng = np.random.default_rng(seed)
    targets = rng.integers(0, classes, count)
    predicted = np.where(targets == 3, 5, targets)
    logits = rng.normal(0, 0.1, (count, classes)).astype(np.float32)
    logits[np.arange(count), predicted] += 4.0
    losses = torch.nn.functional.cross_entropy(
        torch.tensor(logits), torch.tensor(targets), reduction="none"
    ).numpy()
    return logits, targets, losses


def test_a_classifier_that_always_confuses_two_classes_shows_that_cell():
    logits, targets, losses = confusing_classifier()
    labels = ["zero", "one", "two", "three", "four", "five"]
    report = interpret(logits, targets, losses, labels)
    assert report["kind"] == "classification" and report["count"] == 400
    confusion = np.array(report["confusion"])
    threes = int((targets == 3).sum())
    assert confusion[3, 5] == threes and confusion[3, 3] == 0
    assert confusion.sum() == 400 and np.trace(confusion) == 400 - threes
    assert report["normalized"][3][5] == 1.0 and report["normalized"][0][0] == 1.0
    assert report["accuracy"] == pytest.approx((400 - threes) / 400)
    figures = {f["class"]: f for f in report["per_class"]}
    assert figures["three"]["recall"] == 0.0 and figures["three"]["f1"] == 0.0
    assert figures["three"]["support"] == threes
    fives = int((targets == 5).sum())
    assert figures["five"]["precision"] == pytest.approx(fives / (fives + threes))
    assert figures["five"]["recall"] == 1.0 and figures["zero"]["f1"] == 1.0
    # The only confused pair, and every top loss is one of its samples.
    assert report["confused"] == [
        {"target": "three", "predicted": "five", "target_index": 3, "predicted_index": 5,
         "count": threes}
    ]  # fmt: skip
    assert all(targets[i] == 3 for i in report["top_losses"])
    assert report["loss"][report["top_losses"][0]] == pytest.approx(float(losses.max()), rel=1e-5)
    # A click on the cell: its samples, highest loss first, with their line.
    picked = cell_samples(report, 3, 5)
    assert sorted(picked) == sorted(np.flatnonzero(targets == 3).tolist())
    assert [report["loss"][i] for i in picked] == sorted(
        (report["loss"][i] for i in picked), reverse=True
    )
    row = sample_row(report, picked[0])
    assert (row["target"], row["predicted"]) == ("three", "five")
    assert 0.9 < row["probability"] <= 1.0
    assert cell_samples(report, 0, 1) == []
    short = summary(report)
    assert (
        "loss" not in short
        and "predicted" not in short
        and short["confusion"] == report["confusion"]
    )


def test_ignored_targets_and_missing_labels():
    logits = np.eye(3, dtype=np.float32)[[0, 1, 2, 0]] * 5
    targets = np.array([0, 1, -100, 2])
    report = interpret(logits, targets, np.zeros(4), labels=["a"])
    assert report["classes"] == ["a", "1", "2"]
    assert np.array(report["confusion"]).sum() == 3  # the ignored sample is left out
    assert report["accuracy"] == pytest.approx(2 / 3)
    assert sample_row(report, 2)["target"] == "-"


def test_regression_scatter_residuals_and_worst():
    target = np.linspace(0, 1, 100, dtype=np.float32)[:, None]
    output = target + 0.1
    output[17] = 5.0  # one sample far off
    losses = ((output - target) ** 2).reshape(-1)
    report = interpret(output, target, losses)
    assert report["kind"] == "regression"
    assert report["worst"][0] == 17
    assert report["mae"] == pytest.approx((99 * 0.1 + (5.0 - target[17, 0])) / 100, rel=1e-5)
    assert sum(report["residuals"]["counts"]) == 100
    assert len(report["points"][0]) == len(report["points"][1]) == 100
    assert report["r2"] < 1.0
    perfect = interpret(target, target, np.zeros(100))
    assert perfect["r2"] == pytest.approx(1.0) and perfect["rmse"] == 0.0
    with pytest.raises(ValueError, match="differ in size"):
        interpret(np.zeros((4, 2)), np.zeros((4, 3)), np.zeros(4))


def test_segmentation_iou_and_multilabel_figures():
    # Two 2x2 images, two classes: the model calls every pixel class 0.
    targets = np.array([[[0, 0], [1, 1]], [[0, 0], [0, 0]]])
    outputs = np.zeros((2, 2, 2, 2), dtype=np.float32)
    outputs[:, 0] = 1.0
    report = interpret(outputs, targets, np.array([0.5, 0.1]))
    assert report["kind"] == "segmentation"
    figures = {f["class"]: f for f in report["per_class"]}
    assert figures["0"]["iou"] == pytest.approx(6 / 8) and figures["1"]["iou"] == 0.0
    assert report["mean_iou"] == pytest.approx(3 / 8) and report["worst"] == [0, 1]
    # The worst samples' target and predicted masks, kept for the page.
    assert report["masks"]["0"] == {"target": [[0, 0], [1, 1]], "predicted": [[0, 0], [0, 0]]}
    assert "masks" not in summary(report)
    big = small_mask(np.full((200, 130), -100))  # every 4th pixel: at most 64 a side
    assert (len(big), len(big[0])) == (50, 33) and big[0][0] == -1

    labels = np.array([[1, 0, 1], [0, 1, 1], [1, 1, 0], [0, 0, 1]], dtype=np.float32)
    logits = np.where(labels > 0, 3.0, -3.0).astype(np.float32)
    logits[:, 2] = 3.0  # label 2 is always said present
    report = interpret(logits, labels, np.array([0.1, 0.2, 0.9, 0.1]), labels=["x", "y", "z"])
    assert report["kind"] == "multilabel" and report["worst"][0] == 2
    figures = {f["class"]: f for f in report["per_class"]}
    assert figures["x"]["f1"] == 1.0 and figures["z"]["recall"] == 1.0
    assert figures["z"]["precision"] == pytest.approx(3 / 4)
    assert report["exact_match"] == pytest.approx(3 / 4)


def test_task_of_and_bad_input():
    assert task_of(np.zeros((4, 3)), np.zeros((4, 1), dtype=np.int64)) == "classification"
    assert task_of(np.zeros((4, 1)), np.zeros((4, 1), dtype=np.float32)) == "regression"
    with pytest.raises(ValueError, match="one of each per sample"):
        interpret(np.zeros((4, 3)), np.zeros(3, dtype=np.int64), np.zeros(4))
    with pytest.raises(ValueError, match="no samples"):
        interpret(np.zeros((0, 3)), np.zeros(0, dtype=np.int64), np.zeros(0))


def test_per_sample_loss_matches_one_call_per_sample():
    torch.manual_seed(0)
    output, target = torch.randn(8, 4), torch.randint(0, 4, (8,))
    loss = CrossEntropy()
    values = per_sample_loss(loss, output, target)
    assert loss.reduction == "mean"  # the user's loss object is untouched
    one_by_one = [loss(output[i : i + 1], target[i : i + 1]) for i in range(8)]
    assert torch.allclose(values, torch.stack(one_by_one), atol=1e-5)
    # With class weights each sample's loss is weighted by its class, as in training.
    weights = torch.tensor([1.0, 2.0, 0.5, 1.0])
    weighted = per_sample_loss(CrossEntropy(weights=weights.tolist()), output, target)
    assert torch.allclose(weighted, values * weights[target], atol=1e-5)

    def plain(a, b):  # no `reduction`: called per sample
        return ((a - b) ** 2).mean()

    class Plain(torch.nn.Module):
        forward = staticmethod(plain)

    a, b = torch.randn(5, 3), torch.randn(5, 3)
    assert torch.allclose(per_sample_loss(Plain(), a, b), ((a - b) ** 2).mean(dim=1))
