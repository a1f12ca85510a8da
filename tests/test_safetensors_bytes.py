"""Safetensors bytes made with one copy of the tensors (model/safetensors_bytes.py)."""

import numpy as np
import pytest
import safetensors.torch
import torch

from torchstudio.app.store.weights import check_safetensors
from torchstudio.model.safetensors_bytes import safetensors_bytes, safetensors_pieces
from torchstudio.train.state import pack, pack_pieces, unpack


def test_every_dtype_and_shape_reads_back_with_safetensors():
    tensors = {
        "weight": torch.rand(3, 4),
        "steps": torch.arange(5),
        "half": torch.rand(6).to(torch.bfloat16),
        "scalar": torch.tensor(3.0),
        "empty": torch.zeros(0, 2),
        "mask": torch.tensor([True, False, True]),
        "bytes": torch.arange(7, dtype=torch.uint8),
    }
    data = safetensors_bytes(tensors, {"note": "kept"})
    assert set(check_safetensors(bytes(data))) == set(tensors)
    back = safetensors.torch.load(bytes(data))
    for name, tensor in tensors.items():
        assert back[name].dtype == tensor.dtype and torch.equal(back[name], tensor), name
    header_length = int.from_bytes(data[:8], "little")
    assert header_length % 8 == 0 and b'"note":"kept"' in data[8 : 8 + header_length]
    assert safetensors.torch.load(bytes(safetensors_bytes({}))) == {}
    with pytest.raises(TypeError, match="'z'.*complex"):
        safetensors_bytes({"z": torch.zeros(2, dtype=torch.complex64)})


def test_pieces_are_the_same_file_without_a_copy():
    state = {"model": {"w": torch.rand(64, 64), "b": torch.zeros(0)}, "epoch": 3}
    pieces = pack_pieces(state)
    assert bytes(pieces) == bytes(pack(state))
    weight = state["model"]["w"].numpy()
    assert any(np.shares_memory(np.asarray(piece), weight) for piece in pieces.pieces)
    assert unpack(pieces)["epoch"] == 3 and torch.equal(
        unpack(pieces)["model"]["w"], state["model"]["w"]
    )
    tensors = {"a": torch.arange(6, dtype=torch.int32)}
    assert bytes(safetensors_pieces(tensors)) == bytes(safetensors_bytes(tensors))
