"""Adam optimizer."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch


class Adam(torch.optim.Adam):
    """Adam: adaptive per-weight steps from running means of gradients and squared gradients.

    `params` is filled by the studio with the model's parameters. `weight_decay` adds an L2
    penalty to the gradients (see AdamW for decoupled weight decay).
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
    ) -> None:
        super().__init__(
            params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad
        )
