"""The columnar dataset cache: build, reuse, variable sizes, corruption."""

import os

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from torchstudio.data.cache import CacheEntry, CacheError, content_key, open_or_build
from torchstudio.data.samples import SampleError
from torchstudio.data.split import DatasetSettings, make_splits


class ListDataset:
    def __init__(self, samples):
        self.samples = samples

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, index):
        return self.samples[index]


def splits_of(train, valid=None, **settings):
    settings.setdefault("split", "ordered")  # these tests look for samples by position
    training, validation = make_splits(train, valid, DatasetSettings(**settings))
    return {"train": training, "valid": validation}


def test_fixed_shapes_round_trip_and_reuse(tmp_path):
    images = torch.randn(50, 1, 6, 6)
    labels = torch.arange(50) % 10
    samples = [(images[i], int(labels[i])) for i in range(50)]
    splits = splits_of(ListDataset(samples))
    key = content_key("code", {}, splits)
    entry, built = open_or_build(splits, key, str(tmp_path))
    assert built
    train, valid = entry.split("train"), entry.split("valid")
    assert len(train) == 40 and len(valid) == 10
    image, label = valid[3]
    assert torch.equal(image, images[43]) and int(label) == int(labels[43])
    batch_images, batch_labels = train.batch([0, 5, 39])
    assert batch_images.shape == (3, 1, 6, 6) and batch_labels.tolist() == [0, 5, 9]
    assert train.fixed_shapes
    again, built_again = open_or_build(splits, key, str(tmp_path))
    assert not built_again and again.folder == entry.folder


def test_tensor_dataset_fast_path_gives_the_same_bytes(tmp_path):
    images, labels = torch.randn(30, 2, 3), torch.arange(30)
    fast = splits_of(TensorDataset(images, labels), shuffle="all", seed=2)
    slow = splits_of(
        ListDataset([(images[i], labels[i]) for i in range(30)]), shuffle="all", seed=2
    )
    fast_entry, _ = open_or_build(fast, "fast", str(tmp_path))
    slow_entry, _ = open_or_build(slow, "slow", str(tmp_path))
    assert fast_entry.meta["files"] == slow_entry.meta["files"]
    for name in ("train", "valid"):
        for a, b in zip(fast_entry.split(name)[4], slow_entry.split(name)[4], strict=True):
            assert torch.equal(a, b)


def test_variable_size_samples(tmp_path):
    samples = [(np.arange(n, dtype=np.float32), np.ones((n, 2), np.int16)) for n in range(1, 11)]
    entry, _ = open_or_build(splits_of(ListDataset(samples), split_ratio=1.0), "var", str(tmp_path))
    train = entry.split("train")
    assert not train.fixed_shapes
    assert train[6][0].tolist() == list(range(7)) and train[6][1].shape == (7, 2)
    first, second = train.batch([2, 9])
    assert [t.shape for t in first] == [(3,), (10,)]


def test_inconsistent_samples_are_reported(tmp_path):
    samples = [(np.zeros(2), 1)] * 5 + [(np.zeros(2),)]
    with pytest.raises(SampleError, match="sample 5 has 1 tensors but sample 0 has 2"):
        open_or_build(splits_of(ListDataset(samples), split_ratio=1.0), "bad", str(tmp_path))
    assert os.listdir(tmp_path) == []  # nothing half-written is left


@pytest.mark.parametrize("damage", ["truncate", "flip", "delete", "meta"])
def test_damaged_entry_is_detected_and_rebuilt(tmp_path, damage):
    samples = [(torch.full((4,), float(i)), i) for i in range(20)]
    splits = splits_of(ListDataset(samples))
    entry, _ = open_or_build(splits, "key", str(tmp_path))
    data = os.path.join(entry.folder, "train_0.bin")
    if damage == "truncate":
        os.truncate(data, os.path.getsize(data) - 4)
    elif damage == "flip":
        with open(data, "r+b") as file:
            file.seek(10)
            byte = file.read(1)
            file.seek(10)
            file.write(bytes([byte[0] ^ 0xFF]))
    elif damage == "delete":
        os.remove(data)
    else:
        with open(os.path.join(entry.folder, "meta.json"), "w") as file:
            file.write("{not json")
    with pytest.raises(CacheError):
        CacheEntry.open(entry.folder)
    rebuilt, built = open_or_build(splits, "key", str(tmp_path))
    assert built
    assert rebuilt.split("train")[7][0].tolist() == [7.0] * 4


def test_content_key_changes_with_code_settings_and_data():
    samples = [(np.full(3, i, np.float32), i) for i in range(40)]
    base = content_key("a", {"s": 1}, splits_of(ListDataset(samples)))
    assert base == content_key("a", {"s": 1}, splits_of(ListDataset(samples)))
    assert base != content_key("b", {"s": 1}, splits_of(ListDataset(samples)))
    assert base != content_key("a", {"s": 2}, splits_of(ListDataset(samples)))
    changed = list(samples)
    changed[0] = (np.full(3, 99, np.float32), 0)
    assert base != content_key("a", {"s": 1}, splits_of(ListDataset(changed)))
    assert base != content_key("a", {"s": 1}, splits_of(ListDataset(samples[:-1])))
