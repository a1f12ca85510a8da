"""A representative validation split, and classes read from integer labels (issue 20)."""

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import Dataset, TensorDataset

from torchstudio.data.labels import (
    classes_from_labels,
    dataset_labels,
    label_position,
    missing_classes_warning,
)
from torchstudio.data.split import DatasetSettings, split_indices, stratified_choice
from torchstudio.datasetload import LoadedDataset, first_sample_report, run_dataset_code


def test_stratified_split_holds_every_class_in_proportion():
    labels = np.repeat(np.arange(5), [40, 30, 20, 8, 2])  # sorted by class, unbalanced
    training, validation = split_indices(100, None, DatasetSettings(), labels)
    assert len(training) == 80 and len(validation) == 20
    counts = np.bincount(labels[validation[:, 1]], minlength=5)
    assert counts.tolist() == [8, 6, 4, 1, 1]  # the two-sample class keeps one for each split
    assert sorted(training[:, 1].tolist() + validation[:, 1].tolist()) == list(range(100))
    assert not np.array_equal(validation[:, 1], np.sort(validation[:, 1]))  # shuffled
    again = split_indices(100, None, DatasetSettings(), labels)
    assert all(np.array_equal(a, b) for a, b in zip((training, validation), again, strict=True))
    # Without labels, the default split is random: not the last 20 samples.
    _, plain = split_indices(100, None, DatasetSettings())
    assert sorted(plain[:, 1].tolist()) != list(range(80, 100))
    _, ordered = split_indices(100, None, DatasetSettings(split="ordered"), labels)
    assert ordered[:, 1].tolist() == list(range(80, 100))
    with pytest.raises(ValueError, match="split must be one of stratified, random, ordered"):
        DatasetSettings.from_json({"split": "by-class"})


def test_stratified_choice_counts_are_exact():
    rng = np.random.default_rng(0)
    for count in (1, 7, 50, 99):
        labels = rng.integers(0, 7, 100)
        chosen = stratified_choice(labels, count, np.random.default_rng(1))
        assert chosen.sum() == count


class Plain(Dataset):
    """Integer labels, no `classes` and no `targets`: the labels come from the samples."""

    def __len__(self):
        return 12

    def __getitem__(self, index):
        return torch.full((2,), float(index)), index % 3


def test_labels_from_attributes_tensors_or_samples():
    data = TensorDataset(torch.randn(6, 2), torch.tensor([0, 1, 2, 0, 1, 2]))
    assert label_position([np.zeros(2, np.float32), np.asarray(1)]) == 1
    assert label_position([np.zeros(2, np.float32), np.asarray(1.5)]) is None
    assert dataset_labels(data, 1).tolist() == [0, 1, 2, 0, 1, 2]
    assert dataset_labels(Plain(), 1).tolist() == [i % 3 for i in range(12)]
    assert dataset_labels(Plain(), 1, read_limit=5) is None  # too many to read

    class Lying(Plain):
        targets = [2] * 12  # disagrees with the samples: not trusted

    assert dataset_labels(Lying(), 1).tolist() == [i % 3 for i in range(12)]
    assert classes_from_labels(np.asarray([2, 0, 2])) == ["0", "1", "2"]
    assert classes_from_labels(np.asarray([-1, 1])) == []
    warning = missing_classes_warning(np.asarray([0, 1, 2]), np.asarray([0, 0]), ["a", "b", "c"])
    assert (
        warning.startswith("the validation samples lack 2 of the 3 classes") and "b, c" in warning
    )
    assert missing_classes_warning(np.asarray([0, 1]), np.asarray([1, 0]), []) is None


def test_report_classes_from_labels_and_warning_when_valid_lacks_classes():
    code = (
        "import torch\nfrom torch.utils.data import TensorDataset\n"
        "train = TensorDataset(torch.randn(30, 3), torch.arange(30) % 3)\n"
        "valid = TensorDataset(torch.randn(4, 3), torch.tensor([0, 1, 0, 1]))\n"
    )
    train, valid = run_dataset_code(code)
    report = first_sample_report(LoadedDataset(code, train, valid, DatasetSettings()))
    assert report["classes"] == ["0", "1", "2"]
    assert report["warnings"] == [
        "the validation samples lack 1 of the 3 classes of the training samples (2): "
        "validation metrics will not measure them"
    ]
    code = "from tests.test_data_split_classes import Plain\ntrain = Plain()\n"
    train, valid = run_dataset_code(code)
    loaded = LoadedDataset(code, train, valid, DatasetSettings(split_ratio=0.5))
    report = first_sample_report(loaded)
    assert report["classes"] == ["0", "1", "2"] and report["warnings"] == []
    assert sorted(loaded.split_labels("valid").tolist()) == [0, 0, 1, 1, 2, 2]


def test_class_sorted_image_folder_has_every_class_in_validation(tmp_path):
    """Folders read in order used to give a validation set of the last class only."""
    for klass, count in (("ant", 12), ("bee", 9), ("cat", 6), ("dog", 3)):
        (tmp_path / klass).mkdir()
        for index in range(count):
            Image.new("L", (4, 4), index * 10).save(tmp_path / klass / f"{index}.png")
    code = f"from torchstudio.datasets import GenericLoader\ntrain = GenericLoader({str(tmp_path)!r})\n"
    train, valid = run_dataset_code(code)
    loaded = LoadedDataset(code, train, valid, DatasetSettings())
    report = first_sample_report(loaded)
    assert (report["train_count"], report["valid_count"]) == (24, 6)
    labels = loaded.split_labels("valid")
    assert sorted(labels.tolist()) == [0, 0, 1, 1, 2, 3]
    assert report["warnings"] == []
    loaded.resplit(DatasetSettings(split="ordered"))
    assert set(loaded.split_labels("valid").tolist()) == {2, 3}  # the last folders only
    assert (
        "lack 2 of the 3 classes of the training samples (ant, bee)"
        in first_sample_report(loaded)["warnings"][0]
    )


def test_projects_written_before_split_modes_keep_their_split_and_fingerprints():
    from torchstudio.app.dataset.definition import DatasetDefinition

    old = {"code": "x", "settings": {"split_ratio": 0.8, "shuffle": "none", "seed": 0}}
    before = DatasetDefinition.from_json(old)
    assert before.settings["split"] == "ordered" and before.settings["padding"] is None
    assert DatasetDefinition().settings["split"] == "stratified"  # new definitions
    # Settings at the values that load what older projects loaded leave fingerprints alone.
    unpadded = DatasetDefinition.from_json(
        {**old, "settings": {**old["settings"], "padding": False}}
    )
    assert unpadded.data_fingerprint() == before.data_fingerprint()
    stratified = DatasetDefinition.from_json(
        {**old, "settings": {**old["settings"], "split": "stratified"}}
    )
    assert stratified.data_fingerprint() != before.data_fingerprint()
