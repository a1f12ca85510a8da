"""Analyzers against statistics computed by hand with numpy."""

import json

import numpy as np
import pytest
from PIL import Image

from torchstudio.analyzers import Multiclass, MultiLabel, ValuesDistribution
from torchstudio.analyzers.multiclass import class_indices
from torchstudio.modules import Analyzer

REPORT_SIZE = (320, 240)


def run(analyzer: Analyzer, samples, training_flags, labels=(), outputs=(1,)):
    training = sum(training_flags)
    analyzer.start_analysis(training, len(samples) - training, [0], list(outputs), labels)
    for sample, is_training in zip(samples, training_flags, strict=True):
        analyzer.analyze_sample(sample, is_training)
    analyzer.finish_analysis()
    return analyzer


def check_report(analyzer: Analyzer) -> None:
    report = analyzer.generate_report(REPORT_SIZE, 80)
    assert isinstance(report, Image.Image)
    assert report.size == REPORT_SIZE
    assert len(np.unique(np.asarray(report).reshape(-1, 4), axis=0)) > 1


def check_state_round_trip(analyzer: Analyzer, fresh: Analyzer) -> None:
    state = json.loads(json.dumps(analyzer.state_dict(), allow_nan=False))
    fresh.load_state_dict(state)
    assert fresh.state_dict() == analyzer.state_dict()


def test_multiclass_counts_weights_and_imbalance():
    rng = np.random.default_rng(3)
    targets = rng.choice(4, size=60, p=[0.5, 0.3, 0.2, 0.0])
    training = [i < 45 for i in range(60)]
    samples = [(rng.random((1, 4, 4)), np.array(t)) for t in targets]
    analyzer = run(Multiclass(), samples, training, labels=["a", "b", "c", "d"])

    expected_training = np.bincount(targets[:45], minlength=4)
    expected_validation = np.bincount(targets[45:], minlength=4)
    assert analyzer.counts["training"] == expected_training.tolist()
    assert analyzer.counts["validation"] == expected_validation.tolist()
    present = expected_training > 0
    inverse = np.where(present, 1 / np.maximum(expected_training, 1), 0)
    expected_weights = inverse / inverse[present].mean()
    assert analyzer.weights == pytest.approx(expected_weights.tolist())
    assert analyzer.weights[3] == 0  # class 'd' never occurs
    assert np.mean(np.array(analyzer.weights)[present]) == pytest.approx(1.0)
    counts = expected_training[present]
    assert analyzer.imbalance == pytest.approx(counts.max() / counts.min())
    check_report(analyzer)
    check_state_round_trip(analyzer, Multiclass())


def test_multiclass_reads_one_hot_probabilities_and_masks():
    assert class_indices(np.array(3)).tolist() == [3]
    assert class_indices(np.array([0, 0, 1, 0])).tolist() == [2]
    assert class_indices(np.array([0.1, 0.6, 0.3], dtype=np.float32)).tolist() == [1]
    mask = np.array([[0, 1], [1, -100]])  # -100 is an ignored pixel
    assert class_indices(mask).tolist() == [0, 1, 1]
    probability_map = np.zeros((3, 2, 2), dtype=np.float32)
    probability_map[2] = 1
    assert class_indices(probability_map).tolist() == [2, 2, 2, 2]

    one_hot = [(None, np.eye(3)[t]) for t in (0, 2, 2, 1)]
    analyzer = run(Multiclass(), one_hot, [True, True, True, False])
    assert analyzer.counts == {"training": [1, 0, 2], "validation": [0, 1, 0]}
    # Without labels, the number of classes comes from the data.
    assert len(analyzer.weights) == 3


def test_multiclass_without_output_ids_uses_last_tensor():
    samples = [(np.zeros(2), np.array(1)), (np.zeros(2), np.array(1))]
    analyzer = run(Multiclass(), samples, [True, True], labels=["x", "y"], outputs=())
    assert analyzer.counts["training"] == [0, 2]
    assert analyzer.weights == [0.0, 1.0]
    assert analyzer.imbalance == 1.0


def test_multilabel_rates_and_pos_weights():
    rng = np.random.default_rng(5)
    vectors = (rng.random((50, 5)) < [0.5, 0.1, 0.9, 0.3, 0.0]).astype(np.float32)
    vectors[0, 1] = 0.7  # a probability above the threshold counts as positive
    vectors[1, 3] = 0.3  # and one below as negative
    training = [i < 40 for i in range(50)]
    samples = [(rng.random(3), vector) for vector in vectors]
    analyzer = run(MultiLabel(), samples, training, labels=list("abcde"))

    binary = vectors > 0.5
    positives = binary[:40].sum(axis=0)
    assert analyzer.samples == {"training": 40, "validation": 10}
    assert analyzer.positives["training"] == positives.tolist()
    assert analyzer.positives["validation"] == binary[40:].sum(axis=0).tolist()
    assert analyzer.rates("training") == pytest.approx((positives / 40).tolist())
    expected = np.where(positives > 0, (40 - positives) / np.maximum(positives, 1), 1.0)
    assert analyzer.weights == pytest.approx(expected.tolist())
    assert analyzer.weights[4] == 1.0  # never positive: neutral weight
    check_report(analyzer)
    check_state_round_trip(analyzer, MultiLabel())


def test_values_distribution_matches_numpy():
    rng = np.random.default_rng(7)
    images = [rng.normal(loc=i, scale=1 + i / 5, size=(2, 5, 5)) for i in range(30)]
    images[4][0, 0, 0] = np.nan  # non-finite values are counted apart
    labels = [np.array(i % 4) for i in range(30)]
    training = [i < 24 for i in range(30)]
    analyzer = run(ValuesDistribution(bins=20), list(zip(images, labels, strict=True)), training)

    values = np.concatenate([image.ravel() for image in images])
    finite = values[np.isfinite(values)]
    image_stats, label_stats = analyzer.statistics
    assert image_stats.count == finite.size
    assert image_stats.non_finite == 1
    assert image_stats.minimum == finite.min()
    assert image_stats.maximum == finite.max()
    assert image_stats.mean == pytest.approx(finite.mean(), rel=1e-12)
    assert image_stats.std == pytest.approx(finite.std(), rel=1e-12)
    expected, _ = np.histogram(finite, bins=image_stats.edges())
    assert image_stats.histogram.tolist() == expected.tolist()
    assert label_stats.mean == pytest.approx(np.mean([int(x) for x in labels]))
    assert label_stats.histogram.sum() == 30
    assert [row["name"] for row in analyzer.summary()] == [
        "input 0 (tensor 0)",
        "output 0 (tensor 1)",
    ]
    assert analyzer.weights == []
    check_report(analyzer)
    check_state_round_trip(analyzer, ValuesDistribution())


@pytest.mark.parametrize("seed", range(20))
def test_values_distribution_histogram_is_exact_whatever_the_order(seed):
    rng = np.random.default_rng(seed)
    chunks = [
        np.round(rng.normal(size=7) * rng.uniform(0, 50) + rng.normal() * 30, rng.integers(0, 3))
        for _ in range(rng.integers(1, 12))
    ]
    analyzer = run(
        ValuesDistribution(bins=int(rng.integers(2, 30))),
        [(c,) for c in chunks],
        [True] * len(chunks),
        outputs=(),
    )
    statistics = analyzer.statistics[0]
    values = np.concatenate(chunks)
    expected, _ = np.histogram(values, bins=statistics.edges())
    assert statistics.histogram.tolist() == expected.tolist()
    assert statistics.edges()[0] <= values.min() and values.max() < statistics.edges()[-1]


def test_values_distribution_training_only_and_constant_tensors():
    samples = [(np.full(3, 2.0),), (np.full(3, 9.0),)]
    analyzer = run(ValuesDistribution(training_only=True), samples, [True, False], outputs=())
    statistics = analyzer.statistics[0]
    assert (statistics.count, statistics.minimum, statistics.maximum) == (3, 2.0, 2.0)
    assert statistics.std == 0.0
    assert statistics.histogram.sum() == 3
    check_report(analyzer)


def test_reports_of_empty_analyses_have_the_requested_size():
    for analyzer in (Multiclass(), MultiLabel(), ValuesDistribution()):
        run(analyzer, [], [], outputs=())
        assert analyzer.generate_report(REPORT_SIZE, 100).size == REPORT_SIZE
