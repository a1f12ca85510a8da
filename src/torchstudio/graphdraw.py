"""Graph drawing worker: one depth level of a model graph (from modelbuild) as SVG.

Messages:
- `draw` {"graph": {"tracer": "fx" | "hooks", "nodes": [...]}, "direction"?: "TB" | "LR"}
  -> an SVG document (str). Nodes are modelbuild's: name, kind, op, params, shape, dtype,
  inputs (names of the nodes they consume), in topological order.

The layout is computed here in pure Python (`torchstudio.graph.layout`): no graphviz.
"""

from __future__ import annotations

from typing import Any

from torchstudio.graph.layout import DIRECTIONS, Layout, layout
from torchstudio.graph.svg import render_svg
from torchstudio.worker import Handlers, UserError, WorkerContext, run_worker

__all__ = ["GraphError", "Layout", "draw_svg", "graph_nodes", "layout", "main"]

MAX_NODES = 20_000


class GraphError(UserError):
    """The graph or the drawing options cannot be used."""


def graph_nodes(graph: Any) -> list[dict[str, Any]]:
    """The node list of a graph message, checked enough to draw it."""
    if not isinstance(graph, dict) or not isinstance(graph.get("nodes"), list):
        raise GraphError('the graph must be a dict with a "nodes" list')
    nodes = graph["nodes"]
    if len(nodes) > MAX_NODES:
        raise GraphError(f"the graph has {len(nodes)} nodes, more than the {MAX_NODES} drawable")
    for i, node in enumerate(nodes):
        if not isinstance(node, dict) or "name" not in node:
            raise GraphError(f'node {i} must be a dict with a "name"')
    return nodes


def draw_svg(graph: dict[str, Any], options: dict[str, Any] | None = None) -> str:
    """The SVG document of a graph; options: {"direction": "TB" (default) or "LR"}."""
    direction = str((options or {}).get("direction") or "TB").upper()
    if direction not in DIRECTIONS:
        raise GraphError(f"direction must be one of {', '.join(DIRECTIONS)}, not {direction!r}")
    nodes = graph_nodes(graph)
    return render_svg(layout(nodes, direction), nodes)


handlers = Handlers()


@handlers.on("draw")
def draw(value: dict[str, Any], ctx: WorkerContext) -> str:
    if not isinstance(value, dict):
        raise GraphError('draw expects {"graph": {...}, "direction"?: "TB"}')
    return draw_svg(value.get("graph"), value)


def main() -> None:
    raise SystemExit(run_worker(handlers, "graphdraw"))


if __name__ == "__main__":
    main()
