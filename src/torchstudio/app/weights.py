"""Checks on weight files kept in a project: safetensors only, read without torch or pickle."""

from __future__ import annotations

import json
import struct

MAX_HEADER = 100 << 20


class WeightsError(ValueError):
    """Bytes that are not a valid safetensors file."""


def check_safetensors(data: bytes) -> dict[str, dict]:
    """Validate safetensors bytes (header and data extent); returns the tensor table."""
    view = memoryview(data)
    if len(view) < 8:
        raise WeightsError("weights are not safetensors: shorter than the header length")
    (length,) = struct.unpack_from("<Q", view, 0)
    if length > min(MAX_HEADER, len(view) - 8):
        raise WeightsError("weights are not safetensors: bad header length")
    try:
        header = json.loads(bytes(view[8 : 8 + length]))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WeightsError(f"weights are not safetensors: {exc}") from exc
    if not isinstance(header, dict):
        raise WeightsError("weights are not safetensors: the header is not a table")
    tensors = {k: v for k, v in header.items() if k != "__metadata__"}
    end = max((int(v["data_offsets"][1]) for v in tensors.values()), default=0)
    if 8 + length + end > len(view):
        raise WeightsError("weights are truncated: the data is shorter than the header says")
    return tensors
