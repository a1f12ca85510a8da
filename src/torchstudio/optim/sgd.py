"""Stochastic gradient descent optimizer."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from torchstudio.optim.fused import fused_fits


class SGD(torch.optim.SGD):
    """Stochastic gradient descent, with optional (Nesterov) momentum and weight decay.

    `params` is filled by the studio with the model's parameters.

    `fused` updates all the weights in one kernel a step (the same arithmetic as the
    per-weight loop, about a tenth of a CPU step less on the MNIST network); it is used
    where torch has the kernel (floating weights on the CPU or CUDA), else the loop is.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 0.01,
        momentum: float = 0.9,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        fused: bool = True,
    ) -> None:
        params = list(params)
        super().__init__(
            params,
            lr=lr,
            momentum=momentum,
            dampening=dampening,
            weight_decay=weight_decay,
            nesterov=nesterov,
            fused=fused and fused_fits(params),
        )
