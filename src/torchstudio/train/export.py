"""Exports of a trained model, each checked by loading it back and comparing outputs.

Formats: safetensors weights, a state-dict `.pt` (loaded back with `weights_only=True`),
TorchScript by tracing or by scripting, and ONNX with named inputs/outputs and a dynamic
batch axis (checked with onnxruntime on a batch of a different size).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from torchstudio.model.package import load_built_model, load_state_bytes, state_bytes
from torchstudio.train.loop import as_list
from torchstudio.worker import UserError

FORMATS = ("safetensors", "pt", "torchscript-trace", "torchscript-script", "onnx")
TOLERANCE = 1e-4


class ExportError(UserError):
    """An export failed or did not load back identically."""


def _outputs(run: Callable[..., Any], inputs: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    with torch.no_grad():
        return [o.detach().float().cpu() for o in as_list(run(*inputs))]


def _max_difference(expected: list[torch.Tensor], actual: list[torch.Tensor]) -> float:
    if len(expected) != len(actual):
        raise ExportError(f"the export gives {len(actual)} outputs, the model {len(expected)}")
    worst = 0.0
    for want, got in zip(expected, actual, strict=True):
        if want.shape != got.shape:
            raise ExportError(
                f"the export gives shape {tuple(got.shape)}, the model {tuple(want.shape)}"
            )
        worst = max(worst, float((want - got).abs().max()) if want.numel() else 0.0)
    return worst


def export_model(
    model: nn.Module, built: dict[str, Any], fmt: str, path: str, inputs: Sequence[torch.Tensor]
) -> dict[str, Any]:
    """Write `model` to `path` in `fmt`, load it back, and compare outputs on `inputs`.

    `inputs` are example batches (batch dimension included); `built` rebuilds an empty
    model for the weight formats.
    """
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ExportError(f"cannot export to {path}: folder {folder} does not exist")
    model = model.eval().cpu()
    inputs = [t.cpu() for t in inputs]
    expected = _outputs(model, inputs)
    checked_inputs = inputs
    if fmt == "safetensors":
        with open(path, "wb") as file:
            file.write(state_bytes(model))
        fresh = load_built_model(built, "cpu").eval()
        with open(path, "rb") as file:
            load_state_bytes(fresh, file.read())
        actual = _outputs(fresh, inputs)
    elif fmt == "pt":
        torch.save(model.state_dict(), path)
        fresh = load_built_model(built, "cpu").eval()
        fresh.load_state_dict(torch.load(path, weights_only=True))
        actual = _outputs(fresh, inputs)
    elif fmt in ("torchscript-trace", "torchscript-script"):
        try:
            scripted = (
                torch.jit.trace(model, tuple(inputs))
                if fmt == "torchscript-trace"
                else torch.jit.script(model)
            )
        except Exception as exc:
            raise ExportError(f"TorchScript cannot convert this model ({fmt}): {exc}") from exc
        torch.jit.save(scripted, path)
        actual = _outputs(torch.jit.load(path), inputs)
    else:
        checked_inputs, expected, actual = _export_onnx(model, inputs, path)
    difference = _max_difference(expected, actual)
    if difference > TOLERANCE:
        raise ExportError(
            f"the {fmt} export differs from the model by {difference:.3g} after loading back"
        )
    return {
        "path": path,
        "format": fmt,
        "bytes": os.path.getsize(path),
        "max_difference": difference,
        "checked_batch": int(checked_inputs[0].shape[0]) if checked_inputs else 0,
    }


def _export_onnx(
    model: nn.Module, inputs: list[torch.Tensor], path: str
) -> tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]]:
    import onnxruntime

    expected_count = len(_outputs(model, inputs))
    input_names = [f"input_{i}" for i in range(len(inputs))]
    output_names = [f"output_{i}" for i in range(expected_count)]
    batch = torch.export.Dim("batch", min=1, max=1 << 20)
    try:
        torch.onnx.export(
            model,
            tuple(inputs),
            path,
            input_names=input_names,
            output_names=output_names,
            dynamic_shapes=tuple({0: batch} for _ in inputs),
            dynamo=True,
        )
    except Exception as exc:
        raise ExportError(f"ONNX export failed: {exc}") from exc
    # Check on another batch size than the example's, which proves the dynamic batch axis.
    bigger = [torch.cat([t] * 3) for t in inputs]
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    feeds = {name: t.numpy() for name, t in zip(input_names, bigger, strict=True)}
    actual = [torch.from_numpy(np.asarray(o)).float() for o in session.run(output_names, feeds)]
    return bigger, _outputs(model, bigger), actual
