"""Digits dataset: scikit-learn's bundled 8x8 handwritten digits, available offline."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from sklearn.datasets import load_digits
from torch.utils.data import Dataset


class Digits(Dataset):
    """The 1797 8x8 handwritten digits shipped with scikit-learn (no download needed).

    Samples are (image, label): a float32 1x8x8 tensor in [0, 1] and an int64 0-d tensor.
    The digits are shuffled with `seed`, then the first `split` fraction is the training
    set and the rest the validation set, so the two never overlap.

    Args:
        train: the training set (True) or the validation set (False).
        split: fraction of the digits in the training set.
        seed: seed of the shuffle before the split.
        transform: callable applied to the image tensor.
        target_transform: callable applied to the label tensor.
    """

    def __init__(
        self,
        train: bool = True,
        split: float = 0.8,
        seed: int = 0,
        transform: Callable | None = None,
        target_transform: Callable | None = None,
    ) -> None:
        if not 0.0 <= split <= 1.0:
            raise ValueError(f"split must be between 0 and 1, got {split}")
        digits = load_digits()
        order = np.random.default_rng(seed).permutation(len(digits.target))
        boundary = round(split * len(order))
        self.indices = order[:boundary] if train else order[boundary:]
        # Pixel values are 0..16 in this data set.
        images = digits.images[self.indices].astype(np.float32) / 16.0
        self.images = torch.from_numpy(images[:, np.newaxis])
        self.targets = torch.from_numpy(digits.target[self.indices].astype(np.int64))
        self.classes = [str(digit) for digit in range(10)]
        self.train = train
        self.transform = transform
        self.target_transform = target_transform

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, label = self.images[index], self.targets[index]
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            label = self.target_transform(label)
        return image, label
