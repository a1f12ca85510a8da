"""Learning rate decay at chosen epochs."""

from __future__ import annotations

import torch
from torch.optim.lr_scheduler import MultiStepLR


class MultiStep(MultiStepLR):
    """Multiply the learning rate by `gamma` at each epoch listed in `milestones`.

    `optimizer` is filled by the studio.
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        milestones: tuple[int, ...] = (30, 80),
        gamma: float = 0.1,
    ) -> None:
        super().__init__(optimizer, milestones=list(milestones), gamma=gamma)
