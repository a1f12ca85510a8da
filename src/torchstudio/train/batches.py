"""Batches for training: gathered from the columnar cache, or from a DataLoader.

With the cache, a batch is one indexing operation per tensor column (no per-sample
Python). The fresh-samples mode runs the dataset code in the trainer and draws samples
through a DataLoader with worker processes, for datasets with random augmentation.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

import numpy as np
import torch
from torch.utils.data import DataLoader

from torchstudio.data.cache import CachedSplit
from torchstudio.data.padding import pad_batch
from torchstudio.data.settings import Padding

Batch = list[Any]  # one entry per tensor position: a stacked tensor, or a list when sizes vary


class BatchSource(Protocol):
    def __len__(self) -> int: ...

    def batches(
        self, batch_size: int, shuffle: bool, generator: torch.Generator
    ) -> Iterator[Batch]: ...


class CachedBatches:
    """Batches from a memory-mapped cache split."""

    def __init__(self, split: CachedSplit, pin_memory: bool = False) -> None:
        self.split = split
        self.pin_memory = pin_memory
        self.padding = Padding.from_json(getattr(split, "padding", None))
        # Zero-copy torch views of the mapped columns: torch's indexing is multi-threaded.
        self.columns = [
            torch.from_numpy(column) if isinstance(column, np.ndarray) else None
            for column in split.columns
        ]

    def __len__(self) -> int:
        return len(self.split)

    def batches(
        self, batch_size: int, shuffle: bool, generator: torch.Generator
    ) -> Iterator[Batch]:
        count = len(self.split)
        order = torch.randperm(count, generator=generator) if shuffle else torch.arange(count)
        for start in range(0, count, batch_size):
            picked = order[start : start + batch_size]
            yield self.gather(picked, None if shuffle else start)

    def gather(self, picked: torch.Tensor, start: int | None = None) -> Batch:
        """The samples at `picked`; `start` says they are consecutive from there (a slice)."""
        batch: Batch = []
        for position, column in enumerate(self.columns):
            if column is None:
                batch.append(
                    [torch.from_numpy(self.split.arrays(int(i))[position]) for i in picked]
                )
                continue
            tensor = column[picked] if start is None else column[start : start + len(picked)]
            batch.append(tensor.pin_memory() if self.pin_memory else tensor)
        return pad_batch(batch, self.padding)


class LoaderBatches:
    """Batches from a dataset split through a DataLoader (the fresh-samples mode)."""

    def __init__(self, dataset: Any, workers: int = 2, pin_memory: bool = False) -> None:
        self.dataset = dataset
        self.workers = workers
        self.pin_memory = pin_memory
        # A meta-dataset split says how its samples pad (torchstudio.data.split.MetaSplit).
        self.padding: Padding | None = getattr(dataset, "padding", None)

    def __len__(self) -> int:
        return len(self.dataset)

    def batches(
        self, batch_size: int, shuffle: bool, generator: torch.Generator
    ) -> Iterator[Batch]:
        loader = DataLoader(
            self.dataset,
            batch_size=batch_size,
            shuffle=shuffle,
            generator=generator,
            num_workers=self.workers,
            pin_memory=self.pin_memory,
            collate_fn=functools.partial(collate_arrays, padding=self.padding),
        )
        yield from loader


def collate_arrays(
    samples: Sequence[Sequence[np.ndarray]], padding: Padding | None = None
) -> Batch:
    """Stack the samples' arrays per position (lists where shapes differ), then pad."""
    batch: Batch = []
    for position in range(len(samples[0])):
        tensors = [torch.as_tensor(sample[position]) for sample in samples]
        shapes = {tuple(t.shape) for t in tensors}
        batch.append(torch.stack(tensors) if len(shapes) == 1 else tensors)
    return pad_batch(batch, padding)


def to_device(value: Any, device: torch.device) -> Any:
    if isinstance(value, torch.Tensor):
        return value.to(device, non_blocking=device.type == "cuda")
    return [to_device(item, device) for item in value]
