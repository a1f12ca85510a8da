"""Whether torch's fused optimizer kernel can take a set of weights."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

# The devices with fused Adam, AdamW and SGD kernels in the pinned torch.
FUSED_DEVICES = ("cpu", "cuda")


def weights_of(params: Iterable[Any]) -> list[Any]:
    """The tensors in `params`: a list of tensors or of parameter groups (dicts)."""
    tensors: list[Any] = []
    for item in params:
        tensors.extend(item["params"] if isinstance(item, dict) else [item])
    return tensors


def fused_fits(params: list[Any]) -> bool:
    """True when every weight is a floating tensor on a device with the fused kernel."""
    weights = weights_of(params)
    return bool(weights) and all(
        isinstance(w, torch.Tensor) and w.is_floating_point() and w.device.type in FUSED_DEVICES
        for w in weights
    )
