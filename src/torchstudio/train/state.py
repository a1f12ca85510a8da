"""Checkpoints without pickle: nested state as safetensors tensors plus a JSON skeleton.

A checkpoint holds the model, optimizer, scheduler and scaler states, the epoch, the
history and every random generator's state, so that a stopped run resumes to the same
result. Tensors (and numpy arrays) go into a safetensors blob; everything else (numbers,
strings, lists, dicts, tuples) into a JSON skeleton kept in the blob's metadata.
"""

from __future__ import annotations

import json
import random
from typing import Any

import numpy as np
import safetensors.torch
import torch

from torchstudio.model.safetensors_bytes import safetensors_bytes, safetensors_pieces
from torchstudio.tcpcodec import BytesPieces

SKELETON_KEY = "torchstudio.checkpoint"


class CheckpointError(ValueError):
    """A checkpoint that cannot be written or read back."""


def pack(state: Any) -> bytearray:
    """Serialise nested state (dicts, lists, tuples, numbers, strings, tensors, arrays)."""
    tensors, metadata = _flatten(state)
    return safetensors_bytes(tensors, metadata)


def pack_pieces(state: Any) -> BytesPieces:
    """`pack`'s bytes as pieces that point into `state`'s tensors: nothing is copied, and
    the tensors must not change until the pieces are sent (a snapshot's)."""
    tensors, metadata = _flatten(state)
    return safetensors_pieces(tensors, metadata)


def _flatten(state: Any) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The state's tensors by key, and the metadata holding the JSON skeleton around them."""
    tensors: dict[str, torch.Tensor] = {}
    seen: set[int] = set()

    def visit(value: Any, path: str) -> Any:
        if isinstance(value, torch.Tensor | np.ndarray):
            tensor = (
                torch.from_numpy(np.ascontiguousarray(value))
                if isinstance(value, np.ndarray)
                else value
            )
            tensor = tensor.detach().cpu()
            pointer = tensor.untyped_storage().data_ptr()
            if pointer in seen or not tensor.is_contiguous():
                tensor = tensor.clone(memory_format=torch.contiguous_format)
            if tensor.numel():
                seen.add(tensor.untyped_storage().data_ptr())
            key = f"t{len(tensors)}"
            tensors[key] = tensor
            return {"__tensor__": key, "numpy": isinstance(value, np.ndarray)}
        if isinstance(value, dict):
            if not all(isinstance(k, str | int) for k in value):
                raise CheckpointError(f"{path}: dict keys must be strings or ints")
            return {"__dict__": [[k, visit(v, f"{path}.{k}")] for k, v in value.items()]}
        if isinstance(value, tuple):
            return {"__tuple__": [visit(v, f"{path}[{i}]") for i, v in enumerate(value)]}
        if isinstance(value, list):
            return [visit(v, f"{path}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, np.generic):
            return value.item()
        if value is None or isinstance(value, bool | int | float | str):
            return value
        raise CheckpointError(f"{path}: cannot store a {type(value).__name__} in a checkpoint")

    skeleton = visit(state, "state")
    return tensors, {SKELETON_KEY: json.dumps(skeleton)}


def unpack(data: bytes | bytearray | memoryview | BytesPieces) -> Any:
    """Inverse of `pack`."""
    if isinstance(data, BytesPieces):
        data = bytes(data)
    try:
        tensors = safetensors.torch.load(bytes(data))
        header_len = int.from_bytes(bytes(data[:8]), "little")
        metadata = json.loads(bytes(data[8 : 8 + header_len])).get("__metadata__", {})
        skeleton = json.loads(metadata[SKELETON_KEY])
    except Exception as exc:  # safetensors raises its own error types
        raise CheckpointError(f"not a TorchStudio checkpoint: {exc}") from exc

    def build(value: Any) -> Any:
        if isinstance(value, list):
            return [build(v) for v in value]
        if isinstance(value, dict):
            if "__tensor__" in value:
                tensor = tensors[value["__tensor__"]]
                return tensor.numpy() if value.get("numpy") else tensor
            if "__tuple__" in value:
                return tuple(build(v) for v in value["__tuple__"])
            if "__dict__" in value:
                return {k: build(v) for k, v in value["__dict__"]}
        return value

    return build(skeleton)


def rng_state(shuffle: torch.Generator) -> dict[str, Any]:
    """Every random generator a training run draws from."""
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": np.random.get_state(),
        "python": random.getstate(),
        "shuffle": shuffle.get_state(),
    }


def restore_rng(state: dict[str, Any], shuffle: torch.Generator) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    np.random.set_state(state["numpy"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    shuffle.set_state(state["shuffle"])
