"""RandomGenerator dataset: reproducible random tensors, for trying models without data."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset


class RandomGenerator(Dataset):
    """`size` samples of random float32 tensors (standard normal) plus a random class label.

    Every sample is drawn from its own generator seeded by (seed, train, index), so the
    same settings always give the same data, in any access order, and the training and
    validation sets differ.

    Args:
        size: number of samples.
        shapes: shape of each tensor of a sample, e.g. [[3, 32, 32]].
        num_classes: labels are int64 0-d tensors in [0, num_classes); 0 = no label tensor.
        seed: random seed.
        train: the training set (True) or the validation set (False).
    """

    def __init__(
        self,
        size: int = 1000,
        shapes: Sequence[Sequence[int]] = ((3, 32, 32),),
        num_classes: int = 10,
        seed: int = 0,
        train: bool = True,
    ) -> None:
        if size < 0 or num_classes < 0:
            raise ValueError(
                f"size and num_classes must not be negative, got {size} and {num_classes}"
            )
        self.size = size
        self.shapes = [tuple(int(d) for d in shape) for shape in shapes]
        self.num_classes = num_classes
        self.seed = seed
        self.train = train
        self.classes = [str(index) for index in range(num_classes)]

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> tuple[torch.Tensor, ...]:
        if not -self.size <= index < self.size:
            raise IndexError(f"index {index} is out of range for {self.size} samples")
        index %= self.size
        generator = np.random.default_rng([self.seed, int(self.train), index])
        tensors = [
            torch.from_numpy(generator.standard_normal(shape, dtype=np.float32))
            for shape in self.shapes
        ]
        if self.num_classes:
            label = int(generator.integers(self.num_classes))
            tensors.append(torch.tensor(label, dtype=torch.int64))
        return tuple(tensors)
