"""A tiny image classifier and its data in memory, for tests of the training passes."""

from __future__ import annotations

import torch
from torch import nn

CPU = torch.device("cpu")
LOSS = "import torch\nloss = torch.nn.CrossEntropyLoss()\n"
SGD = "import torch\noptimizer = torch.optim.SGD(model.parameters(), lr=0.1)\n"


class Small(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.head = nn.Linear(4 * 6 * 6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.conv(x)).flatten(1))


class Unscriptable(nn.Module):
    """**kwargs in forward: TorchScript cannot compile it."""

    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Linear(36, 3)

    def forward(self, x, **options):
        return self.head(x.flatten(1))


class Source:
    """Batches by slicing two tensors, as the cache does."""

    def __init__(self, count: int = 96, seed: int = 0) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.x = torch.rand(count, 1, 6, 6, generator=generator)
        self.y = (self.x.mean((1, 2, 3)) * 3).long().clamp(max=2)

    def __len__(self) -> int:
        return len(self.y)

    def batches(self, batch_size, shuffle, generator):
        for start in range(0, len(self.y), batch_size):
            yield [self.x[start : start + batch_size], self.y[start : start + batch_size]]
