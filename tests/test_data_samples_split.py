"""Sample conversion, structure checks, splits and suggestions (pure logic)."""

import numpy as np
import pytest
import torch
from PIL import Image

from torchstudio.data.samples import SampleError, check_structure, flatten_sample, sample_structure
from torchstudio.data.split import DatasetSettings, make_splits, split_indices
from torchstudio.data.suggest import suggest_all, suggest_analyzer, suggest_renderer


def test_flatten_tuples_lists_dicts_images_numbers():
    image = Image.fromarray(np.full((4, 5, 3), 255, np.uint8))
    sample = {"image": image, "extra": [torch.ones(2), np.zeros(3, np.float64)], "label": 3}
    arrays = flatten_sample(sample, 0)
    assert [a.shape for a in arrays] == [(3, 4, 5), (2,), (3,), ()]
    assert arrays[0].dtype == np.float32 and arrays[0].max() == 1.0
    assert arrays[3].dtype == np.int64 and int(arrays[3]) == 3
    assert (
        flatten_sample((torch.zeros(2, dtype=torch.bfloat16), 1.5, True), 0)[0].dtype == np.float32
    )
    assert flatten_sample((np.ones(2), [0, 1, 1]), 0)[1].tolist() == [0, 1, 1]


def test_unconvertible_element_is_named():
    with pytest.raises(SampleError, match=r"sample 7, element \['label'\]: cannot convert str"):
        flatten_sample({"x": np.ones(2), "label": "cat"}, 7)
    with pytest.raises(SampleError, match=r"sample 2, element \[1\]\[0\]: cannot convert NoneType"):
        flatten_sample((np.ones(1), (None, 2)), 2)
    with pytest.raises(SampleError, match="dtype <U1"):
        flatten_sample((np.array(["a"]),), 0)


def test_structure_mismatch_reports_first_difference():
    expected = sample_structure((np.ones((1, 2), np.float32), np.int64(1)))
    with pytest.raises(SampleError, match="sample 4 has 1 tensors but sample 0 has 2"):
        check_structure(expected, (np.ones((1, 2), np.float32),), 4)
    with pytest.raises(
        SampleError, match="sample 5, tensor 1: float64 with 0 dimensions, but sample 0 has int64"
    ):
        check_structure(expected, (np.ones((1, 2), np.float32), np.float64(1)), 5)
    # A different shape with the same rank is fine: variable-size samples.
    check_structure(expected, (np.ones((3, 9), np.float32), np.asarray(2)), 6)


def test_split_without_valid_ordered_80_20():
    training, validation = split_indices(10, None, DatasetSettings(split="ordered"))
    assert training[:, 1].tolist() == list(range(8))
    assert validation[:, 1].tolist() == [8, 9]


def test_split_training_samples_shuffle_and_usage():
    settings = DatasetSettings(training_samples=6, shuffle="all", seed=3, split="ordered")
    training, validation = split_indices(10, None, settings)
    assert len(training) == 6 and len(validation) == 4
    assert sorted(training[:, 1].tolist() + validation[:, 1].tolist()) == list(range(10))
    again, _ = split_indices(10, None, settings)
    assert np.array_equal(training, again)  # seeded: reproducible
    other, _ = split_indices(10, None, DatasetSettings(training_samples=6, shuffle="all", seed=4))
    assert not np.array_equal(training, other)
    half, half_valid = split_indices(10, None, DatasetSettings(usage_ratio=0.5))
    assert len(half) == 4 and len(half_valid) == 1


def test_split_with_valid_and_shuffle_train_only():
    training, validation = split_indices(5, 3, DatasetSettings(shuffle="train", seed=1))
    assert (training[:, 0] == 0).all() and (validation[:, 0] == 1).all()
    assert sorted(training[:, 1].tolist()) == list(range(5))
    assert validation[:, 1].tolist() == [0, 1, 2]  # validation order is kept


def test_settings_are_validated():
    with pytest.raises(ValueError, match="shuffle must be one of"):
        DatasetSettings.from_json({"shuffle": "sometimes"})
    with pytest.raises(ValueError, match="usage_ratio"):
        DatasetSettings.from_json({"usage_ratio": 0})
    with pytest.raises(ValueError, match="tensor role"):
        DatasetSettings.from_json({"roles": ["input", "target"]})


def test_make_splits_serves_flattened_samples():
    train = [(torch.full((2,), float(i)), i) for i in range(5)]
    training, validation = make_splits(train, None, DatasetSettings(split="ordered"))
    assert len(training) == 4 and len(validation) == 1
    assert validation[0][0].tolist() == [4.0, 4.0] and int(validation[0][1]) == 4
    with pytest.raises(IndexError, match="out of range"):
        validation[3]


def test_suggestions():
    image, label = np.zeros((1, 28, 28), np.float32), np.asarray(3)
    assert suggest_all((image, label)) == {
        "roles": ["input", "output"],
        "renderers": ["Bitmap", "Labels"],
        "analyzer": "Multiclass",
    }
    assert suggest_renderer(np.zeros((2, 16000), np.float32)) == "Signal"
    assert suggest_renderer(np.zeros((64, 64), np.complex64)) == "Spectrogram"
    assert suggest_renderer(np.zeros((1, 16, 16, 16))) == "Volume"
    assert suggest_analyzer(np.array([0, 1, 1])) == "MultiLabel"
    assert suggest_analyzer(np.zeros((1, 8, 8), np.float32)) == "ValuesDistribution"
    assert suggest_all((np.zeros(4),))["roles"] == ["both"]
