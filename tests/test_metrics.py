"""The built-in metrics against scikit-learn, and the adapter for every metric style."""

import numpy as np
import pytest
import torch
import torchmetrics
from sklearn import metrics as sk

from torchstudio.metricadapter import MetricAdapter, metric_style
from torchstudio.metrics import Accuracy, FScore, Precision, Recall
from torchstudio.metrics._classification import infer_task
from torchstudio.modules import Metric

SKLEARN = {
    Precision: sk.precision_score,
    Recall: sk.recall_score,
    FScore: sk.f1_score,
}


def _batches(preds, target, size=32):
    for start in range(0, len(preds), size):
        yield preds[start : start + size], target[start : start + size]


def _run(metric, preds, target):
    for p, t in _batches(preds, target):
        metric.update(p, t)
    return metric.compute()


@pytest.fixture
def generator():
    return torch.Generator().manual_seed(1)


@pytest.mark.parametrize("cls", [Accuracy, Precision, Recall, FScore])
@pytest.mark.parametrize("average", ["micro", "macro", "weighted"])
@pytest.mark.parametrize("indices", [False, True])
def test_multiclass(cls, average, indices, generator):
    logits = torch.randn(200, 5, generator=generator)
    target = torch.randint(0, 5, (200,), generator=generator)
    labels = logits.argmax(1)
    if indices:
        value = _run(cls(average=average, num_classes=5), labels, target)
    else:
        value = _run(cls(average=average), logits, target)
    y_true, y_pred = target.numpy(), labels.numpy()
    if cls is Accuracy:
        # Macro accuracy is the mean per-class recall; weighted recall equals plain accuracy.
        expected = (
            sk.balanced_accuracy_score(y_true, y_pred)
            if average == "macro"
            else sk.accuracy_score(y_true, y_pred)
        )
    else:
        expected = SKLEARN[cls](y_true, y_pred, average=average)
    assert value == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize("cls", [Accuracy, Precision, Recall, FScore])
@pytest.mark.parametrize("column", [False, True])
def test_binary(cls, column, generator):
    probabilities = torch.rand(150, generator=generator)
    target = torch.randint(0, 2, (150,), generator=generator)
    if column:
        probabilities, target = probabilities[:, None], target[:, None]
    value = _run(cls(threshold=0.6), probabilities, target)
    y_true = target.reshape(-1).numpy()
    y_pred = (probabilities.reshape(-1) >= 0.6).long().numpy()
    function = sk.accuracy_score if cls is Accuracy else SKLEARN[cls]
    assert value == pytest.approx(function(y_true, y_pred), abs=1e-5)


@pytest.mark.parametrize("cls", [Accuracy, Precision, Recall, FScore])
@pytest.mark.parametrize("average", ["micro", "macro", "weighted"])
def test_multilabel(cls, average, generator):
    probabilities = torch.rand(120, 4, generator=generator)
    target = torch.randint(0, 2, (120, 4), generator=generator)
    value = _run(cls(average=average), probabilities, target)
    y_true, y_pred = target.numpy(), (probabilities >= 0.5).long().numpy()
    if cls is Accuracy:
        per_label = np.array([sk.accuracy_score(y_true[:, i], y_pred[:, i]) for i in range(4)])
        if average == "micro":
            expected = 1 - sk.hamming_loss(y_true, y_pred)
        elif average == "macro":
            expected = per_label.mean()
        else:
            expected = np.average(per_label, weights=y_true.sum(0))
    else:
        expected = SKLEARN[cls](y_true, y_pred, average=average)
    assert value == pytest.approx(expected, abs=1e-5)


def test_task_inference():
    assert infer_task(torch.randn(4, 3), torch.tensor([0, 1, 2, 0])) == "multiclass"
    assert infer_task(torch.randn(4, 3), torch.tensor([[0], [1], [2], [0]])) == "multiclass"
    assert infer_task(torch.randn(4), torch.tensor([0, 1, 1, 0])) == "binary"
    assert infer_task(torch.randn(4, 1), torch.tensor([[0], [1], [1], [0]])) == "binary"
    assert infer_task(torch.rand(4, 3), torch.randint(0, 2, (4, 3))) == "multilabel"
    assert infer_task(torch.tensor([0, 3, 2]), torch.tensor([1, 3, 0])) == "multiclass"
    with pytest.raises(ValueError, match="task"):
        infer_task(torch.randn(4, 3), torch.randn(5, 2, 2, 2))


def test_index_predictions_with_num_classes_stay_multiclass():
    metric = Recall(num_classes=4, average="macro")
    metric.update(torch.tensor([0, 1, 1]), torch.tensor([0, 1, 0]))
    metric.update(torch.tensor([3, 2]), torch.tensor([3, 2]))
    assert metric.compute() == pytest.approx((0.5 + 1 + 1 + 1) / 4)


def test_reset_and_settings_validation():
    metric = Accuracy()
    assert metric.compute() == 0.0
    metric.update(torch.tensor([[2.0, 0.0], [0.0, 2.0]]), torch.tensor([0, 0]))
    assert metric.compute() == pytest.approx(0.5)
    metric.reset()
    metric.update(torch.tensor([[2.0, 0.0]]), torch.tensor([0]))
    assert metric.compute() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="average"):
        Accuracy(average="samples")
    with pytest.raises(ValueError, match="task"):
        Accuracy(task="regression")


class IgniteStyleAccuracy:
    """An ignite-style metric: update() takes a single (y_pred, y) tuple."""

    def __init__(self):
        self.reset()

    def reset(self):
        self.correct = 0
        self.total = 0

    def update(self, output):
        y_pred, y = output
        self.correct += int((y_pred.argmax(1) == y).sum())
        self.total += len(y)

    def compute(self):
        return self.correct / self.total


class MeanError(Metric):
    def __init__(self):
        self.reset()

    def update(self, preds, target):
        self.values.append(float((preds - target).abs().mean()))

    def compute(self):
        return torch.tensor(sum(self.values) / len(self.values))

    def reset(self):
        self.values = []


@pytest.mark.parametrize(
    ("metric", "style"),
    [
        (Accuracy(), "torchstudio"),
        (
            torchmetrics.classification.MulticlassAccuracy(num_classes=3, average="micro"),
            "torchmetrics",
        ),
        (IgniteStyleAccuracy(), "ignite"),
    ],
)
def test_adapter_with_every_style(metric, style, generator):
    adapter = MetricAdapter(metric)
    assert adapter.style == style == metric_style(metric)
    logits = torch.randn(40, 3, generator=generator)
    target = torch.randint(0, 3, (40,), generator=generator)
    for p, t in _batches(logits, target, 16):
        adapter.update(p, t)
    value = adapter.compute()
    assert isinstance(value, float)
    assert value == pytest.approx(sk.accuracy_score(target.numpy(), logits.argmax(1).numpy()))
    adapter.reset()
    adapter.update(logits[:1], logits[:1].argmax(1))
    assert adapter.compute() == pytest.approx(1.0)


def test_adapter_converts_tensors_and_rejects_non_metrics():
    adapter = MetricAdapter(MeanError())
    adapter.update(torch.ones(3), torch.zeros(3))
    assert adapter.compute() == pytest.approx(1.0)
    per_class = MetricAdapter(torchmetrics.classification.MulticlassRecall(3, average=None))
    per_class.update(torch.tensor([0, 1, 2, 2]), torch.tensor([0, 1, 2, 1]))
    assert per_class.compute() == pytest.approx((1 + 0.5 + 1) / 3)
    with pytest.raises(TypeError, match="not a metric"):
        MetricAdapter(object())
