"""Class labels of a dataset's samples: where they are, what they are, which classes exist.

A sample's class label is its last 0-d integer tensor. The labels of a whole dataset come
from a cheap attribute when the dataset has one (`targets` as torchvision datasets and
GenericLoader have, `labels`, a TensorDataset's tensor), checked against the first
sample; otherwise, for datasets small enough, from reading every sample.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from torchstudio.data.samples import check_structure, flatten_sample, sample_structure

READ_LIMIT = 10_000  # datasets without a label attribute are read in full up to this size
MAX_CLASSES = 1000  # more distinct integer labels than this are values, not classes
LABEL_ATTRIBUTES = ("targets", "labels")


def label_position(arrays: Sequence[np.ndarray]) -> int | None:
    """The position of a sample's class label: its last 0-d integer tensor, if any."""
    for position in range(len(arrays) - 1, -1, -1):
        array = arrays[position]
        if array.ndim == 0 and array.dtype.kind in "iu":
            return position
    return None


def _as_labels(value: Any, count: int) -> np.ndarray | None:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    try:
        array = np.asarray(value)
    except (TypeError, ValueError):
        return None
    if array.shape != (count,) or array.dtype.kind not in "iu":
        return None
    return array.astype(np.int64)


def _attribute_labels(dataset: Any, position: int) -> np.ndarray | None:
    count = len(dataset)
    for name in LABEL_ATTRIBUTES:
        labels = _as_labels(getattr(dataset, name, None), count)
        if labels is not None:
            return labels
    tensors = getattr(dataset, "tensors", None)  # torch's TensorDataset
    if isinstance(tensors, tuple) and position < len(tensors):
        return _as_labels(tensors[position], count)
    return None


def dataset_labels(
    dataset: Any,
    position: int,
    read: Callable[[int], Sequence[np.ndarray]] | None = None,
    read_limit: int = READ_LIMIT,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray | None:
    """The class label of every sample of `dataset` (None when they cannot be known cheaply).

    Samples read are checked against the first one's structure (SampleError names the
    first that differs).

    An attribute's labels are used only when they agree with the first sample's (a
    `target_transform` could change them). `read(i)` gives sample i's arrays (default:
    the flattened sample). `progress(done, count)` hears of long reads every 500 samples.
    """
    count = len(dataset)
    if count == 0:
        return np.zeros(0, np.int64)
    read = read or (lambda index: flatten_sample(dataset[index], index))
    labels = _attribute_labels(dataset, position)
    if labels is not None:
        first = read(0)
        if position < len(first) and int(first[position]) == int(labels[0]):
            return labels
    if count > read_limit:
        return None
    structure = sample_structure(read(0))
    values = []
    for index in range(count):
        arrays = read(index)
        # Every sample is read anyway: one that differs is named now, by its own index.
        check_structure(structure, arrays, index)
        values.append(int(arrays[position]))
        if progress is not None and index % 500 == 499:
            progress(index + 1, count)
    return np.asarray(values, dtype=np.int64)


def classes_from_labels(labels: np.ndarray | None) -> list[str]:
    """Class names for integer labels used as class indices: "0".."max" (none if negative)."""
    if labels is None or not len(labels) or labels.min() < 0 or labels.max() >= MAX_CLASSES:
        return []
    return [str(index) for index in range(int(labels.max()) + 1)]


def missing_classes_warning(
    training: np.ndarray | None, validation: np.ndarray | None, classes: Sequence[str]
) -> str | None:
    """A warning when the validation samples lack classes that the training samples have."""
    if training is None or validation is None or not len(validation):
        return None
    missing = sorted(set(training.tolist()) - set(validation.tolist()))
    if not missing:
        return None

    def name(label: int) -> str:
        return classes[label] if 0 <= label < len(classes) else str(label)

    shown = ", ".join(name(label) for label in missing[:10]) + (" ..." if len(missing) > 10 else "")
    return (
        f"the validation samples lack {len(missing)} of the {len(set(training.tolist()))} "
        f"classes of the training samples ({shown}): validation metrics will not measure them"
    )
