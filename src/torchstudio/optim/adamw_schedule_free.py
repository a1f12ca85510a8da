"""Schedule-free AdamW optimizer (from the `schedulefree` package)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import schedulefree


class AdamWScheduleFree(schedulefree.AdamWScheduleFree):
    """AdamW without a learning rate schedule: it averages its iterates instead.

    Use it without a scheduler (NoSchedule); `warmup_steps` ramps the learning rate up at
    the start. It keeps two sets of weights, so the training loop must call
    `optimizer.train()` before training steps and `optimizer.eval()` before evaluating or
    saving the model (`needs_train_eval` is True to tell the trainer so). `params` is
    filled by the studio with the model's parameters.
    """

    # Read by the trainer: call train() / eval() on this optimizer along with the model.
    needs_train_eval = True

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 0.0025,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        warmup_steps: int = 0,
        r: float = 0.0,
        weight_lr_power: float = 2.0,
    ) -> None:
        super().__init__(
            params,
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            warmup_steps=warmup_steps,
            r=r,
            weight_lr_power=weight_lr_power,
        )

    def train(self) -> None:
        """Switch the model's weights to the training point (before training steps)."""
        super().train()

    def eval(self) -> None:
        """Switch the model's weights to the averaged point (before evaluation or saving)."""
        super().eval()
