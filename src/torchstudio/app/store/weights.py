"""Checks on weight files kept in a project: safetensors only, read without torch or pickle.

Weights reach the app from workers (best weights, checkpoints), from projects made
elsewhere, and from exports; a pickle among them would run its author's code when loaded
(`torch.load` without `weights_only`, `pickle.loads`). Nothing here ever unpickles: a
payload that is not safetensors is refused, and a pickle is named as such in the message.
"""

from __future__ import annotations

import json
import struct

MAX_HEADER = 100 << 20
# Pickle protocol 2+ starts with PROTO (0x80); torch.save's files are zip archives of pickles.
PICKLE_STARTS = (b"\x80", b"PK\x03\x04")


class WeightsError(ValueError):
    """Bytes that are not a valid safetensors file."""


def check_safetensors(data: bytes, what: str = "weights") -> dict[str, dict]:
    """Validate safetensors bytes (header and data extent); returns the tensor table.

    `what` names the weights in the error message (e.g. "the best weights of 'resnet'").
    """
    view = memoryview(data)
    # A safetensors header length may start with 0x80 too; its JSON header then follows.
    if bytes(view[:4]).startswith(PICKLE_STARTS) and bytes(view[8:9]) != b"{":
        raise WeightsError(
            f"{what} are a pickle (or a torch.save file), not safetensors: refused, as "
            "loading a pickle could run its author's code"
        )
    if len(view) < 8:
        raise WeightsError(f"{what} are not safetensors: shorter than the header length")
    (length,) = struct.unpack_from("<Q", view, 0)
    if length > min(MAX_HEADER, len(view) - 8):
        raise WeightsError(f"{what} are not safetensors: bad header length")
    try:
        header = json.loads(bytes(view[8 : 8 + length]))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WeightsError(f"{what} are not safetensors: {exc}") from exc
    if not isinstance(header, dict):
        raise WeightsError(f"{what} are not safetensors: the header is not a table")
    tensors = {k: v for k, v in header.items() if k != "__metadata__"}
    try:
        end = max((int(v["data_offsets"][1]) for v in tensors.values()), default=0)
    except (TypeError, KeyError, IndexError, ValueError) as exc:
        raise WeightsError(f"{what} are not safetensors: a tensor has no data offsets") from exc
    if 8 + length + end > len(view):
        raise WeightsError(f"{what} are truncated: the data is shorter than the header says")
    return tensors
