"""One-cycle learning rate policy."""

from __future__ import annotations

import torch
from torch.optim.lr_scheduler import OneCycleLR


class OneCycle(OneCycleLR):
    """Warm the learning rate up to `max_lr`, then anneal it far below the start, in one cycle.

    Without `max_lr`, the peak is the optimizer's own learning rate (of each parameter
    group): the rate set on the optimizer is the highest the schedule reaches.

    The cycle lasts `total_steps` steps, or `epochs * steps_per_epoch`. With
    `steps_per_epoch` or `total_steps` given it is meant to be stepped after every batch
    (`step_every_batch` is True); with only `epochs`, once per epoch. `optimizer` is filled by
    the studio.
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        max_lr: float | list[float] | None = None,
        epochs: int = 10,
        steps_per_epoch: int | None = None,
        total_steps: int | None = None,
        pct_start: float = 0.3,
        anneal_strategy: str = "cos",
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
    ) -> None:
        # Read by the trainer to know when to call step().
        self.step_every_batch = steps_per_epoch is not None or total_steps is not None
        if max_lr is None:
            max_lr = [float(group["lr"]) for group in optimizer.param_groups]
        if total_steps is None:
            total_steps = epochs * (steps_per_epoch or 1)
        super().__init__(
            optimizer,
            max_lr=max_lr,
            total_steps=total_steps,
            pct_start=pct_start,
            anneal_strategy=anneal_strategy,
            div_factor=div_factor,
            final_div_factor=final_div_factor,
        )
