"""Device and precision: what to run on, and how (autocast, gradient scaling, TF32)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass

import torch


class DeviceError(ValueError):
    """The requested device or precision is not available here."""


def select_device(name: str) -> torch.device:
    """Parse and check a device name: cpu, cuda, cuda:N or mps."""
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise DeviceError(f"unknown device {name!r}: expected cpu, cuda, cuda:N or mps") from exc
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(
                f"device {name!r} asked for, but CUDA is not available on this machine"
            )
        count = torch.cuda.device_count()
        index = device.index or 0
        if index >= count:
            raise DeviceError(
                f"device {name!r} asked for, but this machine has {count} CUDA GPU(s)"
            )
        return torch.device("cuda", index)
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise DeviceError("device 'mps' asked for, but MPS is not available on this machine")
    if device.type not in ("cpu", "cuda", "mps"):
        raise DeviceError(f"unsupported device {name!r}: expected cpu, cuda, cuda:N or mps")
    return device


@dataclass
class Precision:
    """How forward passes run: an autocast context factory and an optional gradient scaler."""

    autocast: Callable[[], AbstractContextManager[object]]
    scaler: torch.amp.GradScaler | None
    name: str


def setup_precision(mode: str, device: torch.device) -> Precision:
    """fp32; tf32 (TF32 matmuls on CUDA); fp16 with a gradient scaler; bf16 autocast."""
    if device.type == "cuda":
        # TF32 is a global switch: set it both ways so a previous run's choice does not stay.
        torch.backends.cuda.matmul.allow_tf32 = mode == "tf32"
        torch.backends.cudnn.allow_tf32 = mode == "tf32"
    if mode in ("fp32", "tf32"):
        if mode == "tf32" and device.type != "cuda":
            raise DeviceError("tf32 precision needs a CUDA GPU; use fp32 or bf16 on this device")
        return Precision(contextlib.nullcontext, None, mode)
    dtype = torch.float16 if mode == "fp16" else torch.bfloat16
    if mode == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise DeviceError(f"{torch.cuda.get_device_name(device)} does not support bf16")
    if mode == "fp16" and device.type == "cpu":
        raise DeviceError("fp16 training needs a GPU; use bf16 on the CPU")

    def autocast() -> AbstractContextManager[object]:
        return torch.autocast(device_type=device.type, dtype=dtype)

    scaler = torch.amp.GradScaler(device.type) if mode == "fp16" else None
    return Precision(autocast, scaler, mode)
