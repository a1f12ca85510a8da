"""Model building worker: runs the model code on example inputs, graphs and packages the model.

Messages:
- `build` {"code", "inputs": [tensors], "outputs": [tensors], "labels"?: [str],
  "mode"?: "source"|"trace"|"script"|"package", "workdir"?: str, "train_count"?: int,
  "graph"?: bool} -> the build report:
  {"parameters": {"trainable", "total"},
   "inputs": [{"shape", "dtype"}], "outputs": [{"shape", "dtype"}] (the model's outputs),
   "targets": [{"shape", "dtype"}], "predictions": [arrays] (the model's outputs),
   "warnings": [str], "graph": see torchstudio.model.graph (None when "graph" is false),
   "built": see torchstudio.model.package, "suggestions": see torchstudio.model.suggest}.
  `inputs` and `outputs` are one dataset sample's input and target tensors with a batch
  dimension added; `code` is a chunk defining `model` (a torch.nn.Module); `workdir` is the
  folder of the user's own modules; `train_count` (training samples) tunes the batch size,
  epochs and scheduler.
  Instead of `inputs` and `outputs`, a request may give the whole "sample" (every tensor,
  batched) and its "roles"; with "adapt_roles" (the roles are the dataset's suggestion)
  the inputs follow the model's forward signature and the targets its outputs (see
  torchstudio.model.roles). The report then says the "roles" it built with.
A model that cannot be built or fails on the inputs answers `build:error` with the text for
the user (file, line and code of the user's line, and the input shapes).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from torchstudio.model.describe import parameter_counts, shape_text, shapes_text, tensor_info
from torchstudio.model.graph import build_graph
from torchstudio.model.package import (
    BUILD_SEED,
    MODES,
    BuildError,
    model_from_code,
    package_model,
)
from torchstudio.model.roles import forward_inputs, model_roles, roles_for_outputs
from torchstudio.model.suggest import suggest_training
from torchstudio.modules import format_user_error, safe_exec
from torchstudio.worker import Handlers, WorkerContext, run_worker

Progress = Callable[[float, str], None]
# Layers that behave differently in training and evaluation: a trace freezes one behaviour.
_MODE_DEPENDENT = (nn.modules.dropout._DropoutNd, nn.modules.batchnorm._BatchNorm)


def _tensors(values: Any, what: str, allow_empty: bool = False) -> list[torch.Tensor]:
    if not isinstance(values, (list, tuple)) or (not values and not allow_empty):
        raise BuildError(f"`{what}` must be a non-empty list of tensors")
    tensors = []
    for index, value in enumerate(values):
        if not isinstance(value, (torch.Tensor, np.ndarray)):
            raise BuildError(f"{what}[{index}] is a {type(value).__name__}, not a tensor")
        tensors.append(torch.as_tensor(value))
    return tensors


def as_array(tensor: torch.Tensor) -> Any:
    """The tensor as a numpy array (bfloat16, which numpy lacks, as it is)."""
    if tensor.dtype == torch.bfloat16:
        return tensor
    return tensor.detach().cpu().numpy()


def run_example(model: nn.Module, inputs: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Run the model (eval mode, no gradients) on the example inputs; its outputs as a list."""
    model.eval()
    with torch.no_grad():
        result = safe_exec(model, args=[t.clone() for t in inputs], description="model code")
    if not result.ok:
        raise BuildError(f"model failed on inputs of shape {shapes_text(inputs)}:\n{result.error}")
    output = result.value
    outputs = list(output) if isinstance(output, (tuple, list)) else [output]
    for index, value in enumerate(outputs):
        if not isinstance(value, torch.Tensor):
            raise BuildError(
                f"the model returned a {type(value).__name__} (output {index}); "
                "a model must return a tensor or a tuple of tensors"
            )
    return [t.detach().cpu() for t in outputs]


def _fits(output: torch.Tensor, target: torch.Tensor) -> bool:
    """Whether a loss can compare them: same size, or logits with a class dimension for indices."""
    if output.numel() == target.numel():
        return True
    if target.is_floating_point() or target.dtype == torch.bool:
        return False
    if output.dim() == target.dim() + 1:  # N x C (x H x W) logits for N (x H x W) indices
        return output.shape[:1] + output.shape[2:] == target.shape
    # N x 1 indices next to N x C logits (the built-in losses squeeze them)
    return output.dim() == target.dim() == 2 and target.shape[1] == 1


def shape_warnings(
    outputs: Sequence[torch.Tensor], targets: Sequence[torch.Tensor], labels: Sequence[str] = ()
) -> list[str]:
    """Texts for outputs that do not match their targets (the build still succeeds)."""
    warnings = []
    if targets and len(outputs) != len(targets):
        warnings.append(
            f"the model returns {len(outputs)} outputs but the dataset has {len(targets)} targets"
        )
    for index, (output, target) in enumerate(zip(outputs, targets, strict=False)):
        if not _fits(output, target):
            warnings.append(
                f"output {index} has shape {shape_text(output)} but its target has shape "
                f"{shape_text(target)}"
            )
            continue
        class_scores = not target.is_floating_point() and output.dim() == target.dim() + 1
        if labels and class_scores and output.shape[1] != len(labels):
            warnings.append(
                f"output {index} scores {output.shape[1]} classes but the dataset has "
                f"{len(labels)} labels"
            )
    return warnings


def _trace_warning(model: nn.Module) -> list[str]:
    layers = sorted({type(m).__name__ for m in model.modules() if isinstance(m, _MODE_DEPENDENT)})
    if not layers:
        return []
    return [
        f"trace mode: the traced model keeps the training behaviour of its {', '.join(layers)} "
        "layers, even in evaluation; choose source, script or package to keep both behaviours"
    ]


def build(request: dict[str, Any], progress: Progress | None = None) -> dict[str, Any]:
    """The whole build (see the module docstring); raises BuildError with the user's text."""
    report = progress or (lambda fraction, text: None)
    if not isinstance(request, dict):
        raise BuildError("the build request must be a dict")
    code = request.get("code")
    sample = request.get("sample")
    if sample is None:
        inputs = _tensors(request.get("inputs"), "inputs")
        targets = _tensors(request.get("outputs") or [], "outputs", allow_empty=True)
    labels = [str(label) for label in request.get("labels") or []]
    mode = request.get("mode") or "source"
    if mode not in MODES:
        raise BuildError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    workdir = request.get("workdir")

    report(0.0, "running the model code")
    torch.manual_seed(BUILD_SEED)  # the same code, the same starting weights
    model = model_from_code(code, workdir)
    roles: list[str] | None = None
    if sample is not None:
        tensors = _tensors(sample, "sample")
        roles = [str(role) for role in request.get("roles") or []]
        if len(roles) != len(tensors):
            raise BuildError(f"{len(roles)} roles for a sample of {len(tensors)} tensors")
        adapt = bool(request.get("adapt_roles"))
        roles = model_roles(roles, forward_inputs(model), adapt)
        inputs = [tensors[i] for i, role in enumerate(roles) if role in ("input", "both")]
    report(0.2, "running the model on the example inputs")
    outputs = run_example(model, inputs)
    if roles is not None:
        if adapt:
            roles = roles_for_outputs(roles, len(outputs))
        targets = [tensors[i] for i, role in enumerate(roles) if role in ("output", "both")]
    warnings = shape_warnings(outputs, targets, labels)
    graph = None
    if request.get("graph", True):
        report(0.4, "tracing the graph")
        try:
            graph = build_graph(model, inputs)
        except Exception as exc:  # a graph is a view: its failure must not fail the build
            warnings.append("no graph: " + format_user_error(exc, "model code"))
    report(0.7, f"building the model ({mode})")
    built = package_model(model, code, mode, inputs, workdir, warnings)
    if mode == "trace":
        warnings += _trace_warning(model)
    report(0.9, "suggesting the training settings")
    suggestions = suggest_training(inputs, targets, outputs, request.get("train_count"))
    report(1.0, "built")
    return {
        "parameters": parameter_counts(model),
        "inputs": [tensor_info(t) for t in inputs],
        "outputs": [tensor_info(t) for t in outputs],
        "targets": [tensor_info(t) for t in targets],
        # numpy arrays (bfloat16 stays torch): the app never imports torch for a build.
        "predictions": [as_array(t) for t in outputs],
        "warnings": warnings,
        "graph": graph,
        "built": built,
        "suggestions": suggestions,
        **({"roles": roles} if roles is not None else {}),
    }


handlers = Handlers()


@handlers.on("build")
def handle_build(value: dict[str, Any], ctx: WorkerContext) -> dict[str, Any]:
    return build(value, ctx.progress)


def main() -> None:
    raise SystemExit(run_worker(handlers, "modelbuild"))


if __name__ == "__main__":
    main()
