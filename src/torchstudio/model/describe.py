"""Short texts and JSON-able descriptions of tensors and modules, for build reports and graphs."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import nn
from torch.nn.modules.conv import _ConvNd
from torch.nn.modules.pooling import _AdaptiveAvgPoolNd, _AdaptiveMaxPoolNd, _AvgPoolNd, _MaxPoolNd


def dtype_name(dtype: torch.dtype) -> str:
    """'float32' rather than 'torch.float32': the form the UI and the codec use."""
    return str(dtype).removeprefix("torch.")


def flatten_tensors(value: Any) -> list[torch.Tensor]:
    """Every tensor in a value made of tensors, lists, tuples and dicts, in order."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        return [t for item in value for t in flatten_tensors(item)]
    return []


def shape_and_dtype(value: Any) -> tuple[Any, Any]:
    """(shape, dtype) of a tensor; lists of them for a tuple or list of tensors; else Nones."""
    if isinstance(value, torch.Tensor):
        return list(value.shape), dtype_name(value.dtype)
    if (
        isinstance(value, (list, tuple))
        and value
        and all(isinstance(v, torch.Tensor) for v in value)
    ):
        return [list(v.shape) for v in value], [dtype_name(v.dtype) for v in value]
    return None, None


def tensor_info(tensor: torch.Tensor) -> dict[str, Any]:
    return {"shape": list(tensor.shape), "dtype": dtype_name(tensor.dtype)}


def shape_text(tensor: torch.Tensor) -> str:
    """'1×1×8×8 (float32)'; a 0-d tensor reads 'scalar (int64)'."""
    dims = "×".join(str(size) for size in tensor.shape) or "scalar"
    return f"{dims} ({dtype_name(tensor.dtype)})"


def shapes_text(tensors: Sequence[torch.Tensor]) -> str:
    """'1×3 (float32) and 1×5 (int64)': the shapes of several tensors in one phrase."""
    texts = [shape_text(t) for t in tensors]
    if len(texts) <= 1:
        return "".join(texts)
    return ", ".join(texts[:-1]) + " and " + texts[-1]


def count_parameters(parameters: Iterable[nn.Parameter]) -> int:
    return sum(p.numel() for p in parameters)


def parameter_counts(model: nn.Module) -> dict[str, int]:
    """Trainable and total parameter counts (shared parameters counted once)."""
    params = list(model.parameters())
    return {
        "trainable": count_parameters(p for p in params if p.requires_grad),
        "total": count_parameters(params),
    }


def _size(value: Any) -> str:
    """3 for (3, 3), '3×5' for (3, 5): kernel sizes, strides and output sizes, compactly."""
    if isinstance(value, (tuple, list)):
        if len(set(value)) == 1:
            return str(value[0])
        return "×".join(str(v) for v in value)
    return str(value)


def _details(module: nn.Module) -> str:
    """The settings that tell two layers of the same class apart, e.g. '1→32, k=3'."""
    if isinstance(module, _ConvNd):
        text = f"{module.in_channels}→{module.out_channels}, k={_size(module.kernel_size)}"
        if _size(module.stride) != "1":
            text += f", s={_size(module.stride)}"
        return text
    if isinstance(module, nn.Linear):
        return f"{module.in_features}→{module.out_features}"
    if isinstance(module, nn.Embedding):
        return f"{module.num_embeddings}→{module.embedding_dim}"
    if isinstance(module, nn.RNNBase):
        layers = f", {module.num_layers} layers" if module.num_layers > 1 else ""
        return f"{module.input_size}→{module.hidden_size}{layers}"
    if isinstance(module, nn.modules.batchnorm._NormBase):
        return str(module.num_features)
    if isinstance(module, nn.GroupNorm):
        return f"{module.num_groups} groups, {module.num_channels}"
    if isinstance(module, nn.LayerNorm):
        return _size(list(module.normalized_shape))
    if isinstance(module, (_MaxPoolNd, _AvgPoolNd)):
        return f"k={_size(module.kernel_size)}"
    if isinstance(module, (_AdaptiveAvgPoolNd, _AdaptiveMaxPoolNd)):
        return f"→{_size(module.output_size)}"
    if isinstance(module, nn.modules.dropout._DropoutNd):
        return f"p={module.p}"
    return ""


def describe_module(module: nn.Module) -> str:
    """The graph's "params" text: '1→32, k=3 · 320 params', '18,816 params' or ''."""
    count = count_parameters(module.parameters())
    details = _details(module)
    counted = f"{count:,} params" if count else ""
    return " · ".join(part for part in (details, counted) if part)
