"""AdamW optimizer."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from torchstudio.optim.fused import fused_fits


class AdamW(torch.optim.AdamW):
    """Adam with decoupled weight decay: weights shrink by `lr * weight_decay` each step.

    `params` is filled by the studio with the model's parameters.

    `fused` updates all the weights in one kernel a step (the same arithmetic as the
    per-weight loop, about a tenth of a CPU step less on the MNIST network); it is used
    where torch has the kernel (floating weights on the CPU or CUDA), else the loop is.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.01,
        amsgrad: bool = False,
        fused: bool = True,
    ) -> None:
        params = list(params)
        super().__init__(
            params,
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            amsgrad=amsgrad,
            fused=fused and fused_fits(params),
        )
