"""Constant learning rate."""

from __future__ import annotations

import torch
from torch.optim.lr_scheduler import LRScheduler


class NoSchedule(LRScheduler):
    """Keep the optimizer's learning rate as it is (for example with AdamWScheduleFree).

    `optimizer` is filled by the studio.
    """

    def __init__(self, optimizer: torch.optim.Optimizer) -> None:
        super().__init__(optimizer)

    def get_lr(self) -> list[float]:
        return [group["lr"] for group in self.optimizer.param_groups]
