"""Graph nodes recorded by forward hooks, for models torch.fx cannot trace.

The model runs once on the example inputs. The modules of the requested level (those at that
depth, and shallower ones without children) become nodes in call order, with the shapes of
what they return. Edges come from following tensors: every tensor remembers which nodes it
derives from; a torch function mode carries that through the plain operations between
modules (additions, concatenations, reshapes...), so an edge skips over them to the module
or input the data came from.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from torchstudio.model.describe import describe_module, flatten_tensors, shape_and_dtype


class _Provenance(TorchFunctionMode):
    """Remembers, for each tensor seen, the names of the graph nodes it was computed from."""

    def __init__(self) -> None:
        super().__init__()
        # Keyed by id(); the tensor is kept alive so that its id cannot be reused meanwhile.
        self._sources: dict[int, tuple[torch.Tensor, tuple[str, ...]]] = {}

    def mark(self, value: Any, names: tuple[str, ...]) -> None:
        for tensor in flatten_tensors(value):
            self._sources[id(tensor)] = (tensor, names)

    def sources(self, value: Any) -> list[str]:
        """Names of the nodes the tensors in `value` derive from, in order, without repeats."""
        names: dict[str, None] = {}
        for tensor in flatten_tensors(value):
            entry = self._sources.get(id(tensor))
            if entry is not None:
                names.update(dict.fromkeys(entry[1]))
        return list(names)

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        result = func(*args, **kwargs)
        names = self.sources((args, kwargs))
        if names:
            self.mark(result, tuple(names))
        return result


_CONTAINERS = (nn.ModuleList, nn.ModuleDict)


def module_depths(model: nn.Module) -> dict[str, int]:
    """The level of each submodule by path: 1 for "features", 2 for "features.0"...

    Module lists and dicts are never called: they take the level of their items and add none.
    """
    depths: dict[str, int] = {}

    def visit(module: nn.Module, prefix: str, level: int) -> None:
        for name, child in module.named_children():
            path = f"{prefix}.{name}" if prefix else name
            if path in depths:
                continue
            inner = level if isinstance(child, _CONTAINERS) else level + 1
            depths[path] = level
            visit(child, path, inner)

    visit(model, "", 1)
    return depths


def _frontier(model: nn.Module, level: int) -> dict[nn.Module, str]:
    """The modules shown at `level`: those at that level, and shallower ones without children."""
    chosen: dict[nn.Module, str] = {}
    paths = dict(model.named_modules())
    for path, module_level in module_depths(model).items():
        module = paths.get(path)
        if module is None or isinstance(module, _CONTAINERS):
            continue  # a shared module known by its first path, or a list of modules
        has_children = next(module.children(), None) is not None
        if module_level == level or (module_level < level and not has_children):
            chosen.setdefault(module, path)
    return chosen or {model: ""}


def _input_names(model: nn.Module, count: int) -> list[str]:
    """The forward's parameter names ("x", "y"...), as fx names its placeholders."""
    try:
        parameters = inspect.signature(model.forward).parameters.values()
        names = [
            p.name for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
    except (TypeError, ValueError):
        names = []
    return [names[i] if i < len(names) else f"input_{i}" for i in range(count)]


class _Recorder:
    """Forward hooks that turn the calls of the frontier modules into nodes."""

    def __init__(self, modules: dict[nn.Module, str], provenance: _Provenance) -> None:
        self.modules = modules
        self.provenance = provenance
        self.nodes: list[dict[str, Any]] = []
        self._used: set[str] = set()
        self._inside = 0  # a frontier module called from within another one is part of it
        self._pending: list[list[str]] = []

    def unique(self, name: str) -> str:
        base = name.replace(".", "_") or "model"
        name, count = base, 0
        while name in self._used:
            count += 1
            name = f"{base}_{count}"
        self._used.add(name)
        return name

    def before(self, module: nn.Module, args: Any, kwargs: Any) -> None:
        if self._inside == 0:
            self._pending.append(self.provenance.sources((args, kwargs)))
        self._inside += 1

    def after(self, module: nn.Module, args: Any, kwargs: Any, output: Any) -> None:
        self._inside -= 1
        if self._inside:
            return
        name = self.unique(self.modules[module])
        shape, dtype = shape_and_dtype(output)
        self.nodes.append(
            {
                "name": name,
                "kind": "module",
                "op": type(module).__name__,
                "target": self.modules[module],
                "params": describe_module(module),
                "shape": shape,
                "dtype": dtype,
                "inputs": self._pending.pop(),
            }
        )
        self.provenance.mark(output, (name,))


def _node(name: str, kind: str, value: Any, inputs: list[str]) -> dict[str, Any]:
    shape, dtype = shape_and_dtype(value)
    op = "input" if kind == "input" else "output"
    return {
        "name": name,
        "kind": kind,
        "op": op,
        "target": name,
        "params": "",
        "shape": shape,
        "dtype": dtype,
        "inputs": inputs,
    }


def hook_nodes(
    model: nn.Module, inputs: Sequence[torch.Tensor], level: int
) -> list[dict[str, Any]]:
    """The nodes of one level, recorded by running the model once with forward hooks."""
    modules = _frontier(model, level)
    provenance = _Provenance()
    recorder = _Recorder(modules, provenance)
    examples = [t.clone() for t in inputs]
    input_nodes = []
    for name, tensor in zip(_input_names(model, len(examples)), examples, strict=True):
        name = recorder.unique(name)
        provenance.mark(tensor, (name,))
        input_nodes.append(_node(name, "input", tensor, []))
    handles = []
    for module in modules:
        handles.append(module.register_forward_pre_hook(recorder.before, with_kwargs=True))
        handles.append(module.register_forward_hook(recorder.after, with_kwargs=True))
    try:
        with torch.no_grad(), provenance:
            output = model(*examples)
    finally:
        for handle in handles:
            handle.remove()
    output_node = _node(recorder.unique("output"), "output", output, provenance.sources(output))
    return [*input_nodes, *recorder.nodes, output_node]
