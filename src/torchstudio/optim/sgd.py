"""Stochastic gradient descent optimizer."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch


class SGD(torch.optim.SGD):
    """Stochastic gradient descent, with optional (Nesterov) momentum and weight decay.

    `params` is filled by the studio with the model's parameters.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 0.01,
        momentum: float = 0.9,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
    ) -> None:
        super().__init__(
            params,
            lr=lr,
            momentum=momentum,
            dampening=dampening,
            weight_decay=weight_decay,
            nesterov=nesterov,
        )
