"""Model graphs at every depth level, with shapes: torch.fx where it can trace, else hooks.

Level 1 shows the model's top-level submodules; each further level opens the modules of the
level above, down to `max_depth` where only individual layers and operations are left.
Lists and dicts of modules (`nn.ModuleList`, `nn.ModuleDict`) are never called, so they are
no level of their own: their items stand at the list's level.

Result: {"tracer": "fx"|"hooks", "max_depth": int, "levels": {"1": level, "2": level, ...}}
with level = {"tracer": "fx"|"hooks", "nodes": [node, ...]} and node =
{"name", "kind": "input"|"module"|"function"|"method"|"output", "op", "target", "params",
"shape", "dtype", "inputs"}: `op` is the module class, function or method name; `target`
the module path ("features.0") or the function/method name; `params` a summary text
("1→32, k=3 · 320 params", or ""); `shape` a list, a list of shapes (tuple outputs) or None;
`dtype` likewise; `inputs` the names of the nodes consumed, in order, each naming an
earlier node; `scope` (fx only) the module calls the node runs inside, for views that open
modules in place (`torchstudio.graph.view`). Parameters or buffers that the forward reads directly are "input" nodes
with op "attribute".

fx gives every operation. A model it cannot trace (data-dependent control flow such as
`if x.sum() > 0:`) gets, at that level, module nodes recorded by forward hooks instead
(`torchstudio.model.hooks`), and the level's "tracer" says "hooks"; the top-level "tracer"
is "fx" only when every level was traced by fx. A submodule that fx cannot trace into is
kept whole, as one module node, so the rest of the level still gets fx's detail.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import fx, nn
from torch.fx.passes.shape_prop import ShapeProp, TensorMetadata

from torchstudio.model.describe import describe_module, dtype_name
from torchstudio.model.hooks import hook_nodes, module_depths

__all__ = ["build_graph", "fx_nodes", "hook_nodes", "max_depth", "module_depths"]

_KINDS = {
    "placeholder": "input",
    "get_attr": "input",
    "call_module": "module",
    "call_function": "function",
    "call_method": "method",
    "output": "output",
}


def max_depth(model: nn.Module) -> int:
    """The deepest submodule's level (at least 1, the level of a model without submodules)."""
    return max([1, *module_depths(model).values()])


class _LevelTracer(fx.Tracer):
    """An fx tracer that keeps modules at `level` and below whole, as single nodes."""

    def __init__(self, level: int, depths: dict[str, int], opaque: set[str]) -> None:
        super().__init__()
        self.level = level
        self.depths = depths
        self.opaque = opaque  # submodules fx failed to trace into: kept whole
        self.failed_in: str | None = None

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        module_depth = self.depths.get(module_qualified_name, self.level)
        if module_depth >= self.level or module_qualified_name in self.opaque:
            return True
        return super().is_leaf_module(m, module_qualified_name)

    def call_module(self, m: nn.Module, forward: Any, args: Any, kwargs: Any) -> Any:
        try:
            return super().call_module(m, forward, args, kwargs)
        except Exception:
            if self.failed_in is None:  # the innermost module records itself first
                self.failed_in = self.path_of_module(m)
            raise


def _meta_shape(meta: Any) -> tuple[Any, Any]:
    if isinstance(meta, TensorMetadata):
        return list(meta.shape), dtype_name(meta.dtype)
    if (
        isinstance(meta, (list, tuple))
        and meta
        and all(isinstance(m, TensorMetadata) for m in meta)
    ):
        return [list(m.shape) for m in meta], [dtype_name(m.dtype) for m in meta]
    return None, None


def _op_name(node: fx.Node, module: fx.GraphModule) -> tuple[str, str, str]:
    """(op, target, params) of an fx node."""
    if node.op == "call_module":
        submodule = module.get_submodule(str(node.target))
        return type(submodule).__name__, str(node.target), describe_module(submodule)
    if node.op == "call_function":
        name = getattr(node.target, "__name__", str(node.target))
        return name, name, ""
    if node.op == "get_attr":
        value = module
        for part in str(node.target).split("."):
            value = getattr(value, part)
        count = f"{value.numel():,} values" if isinstance(value, torch.Tensor) else ""
        return "attribute", str(node.target), count
    if node.op in ("placeholder", "output"):
        return ("input" if node.op == "placeholder" else "output"), str(node.target), ""
    return str(node.target), str(node.target), ""  # call_method


def _trace(model: nn.Module, level: int) -> fx.GraphModule:
    """Trace at `level`, keeping whole each submodule fx fails in; raises when the root fails."""
    depths = module_depths(model)
    opaque: set[str] = set()
    while True:
        tracer = _LevelTracer(level, depths, opaque)
        try:
            graph = tracer.trace(model)
        except Exception:
            if not tracer.failed_in or tracer.failed_in in opaque:
                raise
            opaque.add(tracer.failed_in)
            continue
        return fx.GraphModule(tracer.root, graph, type(model).__name__)


def _scope(node: fx.Node, depths: dict[str, int]) -> list[list[Any]]:
    """The module calls a node runs inside, outermost first: [key, path, class, depth]."""
    scope = []
    for key, (path, cls) in (node.meta.get("nn_module_stack") or {}).items():
        if path in depths:  # not the root
            name = getattr(cls, "__name__", str(cls).rsplit(".", 1)[-1].rstrip("'>"))
            scope.append([str(key), str(path), name, depths[path]])
    return scope


def fx_nodes(model: nn.Module, inputs: Sequence[torch.Tensor], level: int) -> list[dict[str, Any]]:
    """The nodes of one level, traced by torch.fx, shapes from running the example inputs."""
    module = _trace(model, level)
    depths = module_depths(model)
    with torch.no_grad():
        # Clones: a model that works in place must not change the caller's example.
        ShapeProp(module).propagate(*(t.clone() for t in inputs))
    nodes = []
    for node in module.graph.nodes:
        op, target, params = _op_name(node, module)
        shape, dtype = _meta_shape(node.meta.get("tensor_meta"))
        nodes.append(
            {
                "name": node.name,
                "kind": _KINDS[node.op],
                "op": op,
                "target": target,
                "params": params,
                "shape": shape,
                "dtype": dtype,
                "inputs": [n.name for n in node.all_input_nodes],
                "scope": _scope(node, depths),
            }
        )
    return nodes


def build_graph(model: nn.Module, inputs: Sequence[torch.Tensor]) -> dict[str, Any]:
    """The graph at every level (see the module docstring). The model should be in eval mode."""
    deepest = max_depth(model)
    levels: dict[str, dict[str, Any]] = {}
    fx_works = True
    for level in range(1, deepest + 1):
        nodes = None
        if fx_works:
            try:
                nodes = fx_nodes(model, inputs, level)
            except Exception:
                # The model's own forward does not trace (failing submodules were kept whole
                # already), or its trace does not run: deeper levels would fail the same way.
                fx_works = False
        tracer = "fx" if nodes is not None else "hooks"
        if nodes is None:
            nodes = hook_nodes(model, inputs, level)
        levels[str(level)] = {"tracer": tracer, "nodes": nodes}
    every_fx = all(level["tracer"] == "fx" for level in levels.values())
    return {"tracer": "fx" if every_fx else "hooks", "max_depth": deepest, "levels": levels}
