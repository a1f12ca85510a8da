"""Step learning rate decay."""

from __future__ import annotations

import torch
from torch.optim.lr_scheduler import StepLR


class Step(StepLR):
    """Multiply the learning rate by `gamma` every `step_size` epochs.

    `optimizer` is filled by the studio.
    """

    def __init__(
        self, optimizer: torch.optim.Optimizer, step_size: int = 10, gamma: float = 0.1
    ) -> None:
        super().__init__(optimizer, step_size=step_size, gamma=gamma)
