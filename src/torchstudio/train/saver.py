"""The copy of the training state that a save on the saver thread (savequeue.py) reads.

At an epoch's end the trainer copies the state (a memory copy: tens of milliseconds for a
resnet18) and hands the copy over; the thread packs it (safetensors: a checkpoint's pieces
point into the copy, so nothing more is copied) and sends it while the next epoch trains.
Messages go out complete and in order, so the app keeps the last complete checkpoint
whatever moment the trainer is killed at.
"""

from __future__ import annotations

from typing import Any

import torch


def snapshot(value: Any, reuse: Any = None) -> Any:
    """`value` with every tensor copied to the CPU (the training goes on changing them).

    A tensor of `reuse` (an earlier snapshot of the same state, no longer needed) with the
    same place, shape, dtype and strides is copied into: writing memory already in use costs
    a fraction of a fresh allocation's page faults (a resnet18's weights and Adam state:
    about a tenth).
    """
    if isinstance(value, torch.Tensor):
        if (
            isinstance(reuse, torch.Tensor)
            and reuse.shape == value.shape
            and reuse.dtype == value.dtype
            and reuse.stride() == value.stride()
        ):
            return reuse.copy_(value.detach())
        return value.detach().to("cpu", copy=True)
    if isinstance(value, dict):
        spare = reuse if isinstance(reuse, dict) else {}
        return {k: snapshot(v, spare.get(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        spares = list(reuse) if isinstance(reuse, list | tuple) else []
        spares += [None] * (len(value) - len(spares))
        copied = [snapshot(v, spare) for v, spare in zip(value, spares, strict=False)]
        return copied if isinstance(value, list) else tuple(copied)
    return value
