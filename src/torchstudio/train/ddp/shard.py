"""Each rank's share of every global batch, drawn from the memory-mapped cache.

All ranks draw the same permutation (same seed), cut it into global batches of
`batch_size x world_size` samples exactly as one process with that batch size would, and
each rank takes its contiguous share of each global batch. A rank's loss is scaled by
`share x world_size / global batch` so that DistributedDataParallel's gradient average
equals the gradient of the global batch's mean loss, even for a smaller last batch.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from torchstudio.train.batches import Batch, CachedBatches


class ShardBatch(list):  # type: ignore[type-arg]
    """A rank's part of a global batch, with what `run_pass` needs to weigh it."""

    samples: int = 0  # real samples (0: a stand-in sample, so that every rank steps)
    loss_scale: float = 1.0  # multiplies the loss before backward


def share(count: int, rank: int, world_size: int) -> tuple[int, int]:
    """[start, stop) of rank's contiguous share of `count` samples (sizes differ by <= 1)."""
    base, extra = divmod(count, world_size)
    start = rank * base + min(rank, extra)
    return start, start + base + (1 if rank < extra else 0)


class ShardedBatches:
    """A `BatchSource` giving one rank its share of each global batch."""

    def __init__(self, source: CachedBatches, rank: int, world_size: int) -> None:
        self.source = source
        self.rank = rank
        self.world_size = world_size

    def __len__(self) -> int:
        return len(self.source)  # the whole split: every rank reports global figures

    def batches(
        self, batch_size: int, shuffle: bool, generator: torch.Generator
    ) -> Iterator[Batch]:
        count = len(self.source)
        step = batch_size * self.world_size
        order = torch.randperm(count, generator=generator) if shuffle else torch.arange(count)
        for first in range(0, count, step):
            chunk = order[first : first + step]
            start, stop = share(len(chunk), self.rank, self.world_size)
            real = stop - start
            # A last batch smaller than the world leaves some ranks without a sample: they
            # step on a stand-in sample with no weight, as every rank must join the all-reduce.
            picked = chunk[start:stop] if real else chunk[:1]
            contiguous = None if shuffle else first + (start if real else 0)
            batch = ShardBatch(self.source.gather(picked, contiguous))
            batch.samples = real
            batch.loss_scale = real * self.world_size / len(chunk)
            yield batch
