"""Layered layout of a model graph (Sugiyama style), in pure Python.

1. layers: longest path from the inputs, so every edge points down (an edge against the
   node order is reversed for the layout and drawn back the right way);
2. a dummy node on every layer an edge crosses, so that edges only join adjacent layers;
3. crossing reduction (order.py): barycenter sweeps down and up, adjacent swaps;
4. coordinates (place.py): each layer is placed by weighted least squares against its
   neighbours, keeping the order and the spacing (isotonic regression), a few sweeps.
   Edges between dummies weigh most, so long edges run straight, and chains align;
5. routes: from the source's bottom to the target's top through the dummies, with the
   ends of several edges spread along a node's side in the order of the other ends.

Coordinates are computed top to bottom ("TB") and transposed for left to right ("LR").
Items are indexed by int: real nodes are their index in the input, dummies come after.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from torchstudio.graph.labels import node_size
from torchstudio.graph.order import CROSSING_SWEEPS, positions, reduce_crossings
from torchstudio.graph.place import assign_positions

DIRECTIONS = ("TB", "LR")
DUMMY_BREADTH = 6.0  # width of an edge passing through a layer
LAYER_GAP = {"TB": 36.0, "LR": 56.0}
MARGIN = 16.0
PORT_STEP = 12.0  # px between the ends of edges on one side of a node

Size = tuple[float, float]


@dataclass
class Box:
    """A placed node: centre (x, y) and size, in SVG pixels."""

    index: int
    name: str
    layer: int
    x: float
    y: float
    width: float
    height: float


@dataclass
class Route:
    """An edge from node `source` to node `target` (indices) as a polyline.

    `points` start at the source and end at the target; `reversed` marks an edge that went
    against the node order and was laid out upwards.
    """

    source: int
    target: int
    points: list[tuple[float, float]]
    reversed: bool = False


@dataclass
class Layout:
    boxes: list[Box]
    routes: list[Route]
    width: float
    height: float
    direction: str
    layers: list[list[int]]  # item order per layer; items >= len(boxes) are dummies
    crossings: int


# ---------------------------------------------------------------------------- graph


def graph_edges(nodes: Sequence[dict[str, Any]]) -> list[tuple[int, int]]:
    """(source, target) index pairs from the nodes' `inputs`, once each, self-loops and
    unknown names left out."""
    index: dict[str, int] = {}
    for i, node in enumerate(nodes):
        index.setdefault(str(node.get("name", i)), i)
    edges: list[tuple[int, int]] = []
    seen: set[tuple[int, int]] = set()
    for target, node in enumerate(nodes):
        for name in _flat(node.get("inputs") or []):
            source = index.get(str(name))
            if source is None or source == target:
                continue
            key = (min(source, target), max(source, target))
            if key not in seen:
                seen.add(key)
                edges.append((source, target))
    return edges


def _flat(values: Any) -> list[Any]:
    # Inputs may nest (a list argument such as torch.cat([a, b])): keep the names in order.
    if isinstance(values, (list, tuple)):
        return [item for value in values for item in _flat(value)]
    return [values]


def assign_layers(nodes: Sequence[dict[str, Any]], edges: list[tuple[int, int]]) -> list[int]:
    """Longest-path layers over edges oriented by node order; sources that are not inputs
    (constants, parameters) move down next to their first consumer; outputs go last."""
    count = len(nodes)
    preds: list[list[int]] = [[] for _ in range(count)]
    succs: list[list[int]] = [[] for _ in range(count)]
    for source, target in edges:
        upper, lower = min(source, target), max(source, target)
        preds[lower].append(upper)
        succs[upper].append(lower)
    layers = [0] * count
    for v in range(count):
        for u in preds[v]:
            layers[v] = max(layers[v], layers[u] + 1)
    for v in reversed(range(count)):
        if not preds[v] and succs[v] and nodes[v].get("kind") != "input":
            layers[v] = min(layers[s] for s in succs[v]) - 1
    last = max(layers, default=0)
    for v in range(count):
        if nodes[v].get("kind") == "output" and not succs[v]:
            layers[v] = last
    return layers


# ---------------------------------------------------------------------------- layout


def _spread(centre: float, count: int, breadth: float) -> list[float]:
    """Where `count` edge ends sit along a side of a node of `breadth` around its centre."""
    if count <= 1:
        return [centre] * count
    step = min(PORT_STEP, breadth * 0.7 / (count - 1))
    return [centre + (i - (count - 1) / 2) * step for i in range(count)]


def layout(
    nodes: Sequence[dict[str, Any]],
    direction: str = "TB",
    size: Callable[[dict[str, Any]], Size] = node_size,
    crossing_sweeps: int = CROSSING_SWEEPS,
) -> Layout:
    """Place the nodes of one graph level and route its edges (see the module docstring).

    `size(node)` gives a node's (width, height); `crossing_sweeps=0` keeps the node order
    as it comes (to measure what crossing reduction gains).
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}, not {direction!r}")
    count = len(nodes)
    sizes = [tuple(map(float, size(node))) for node in nodes]
    # Along a layer a box takes its width top-down, its height left-right.
    breadth = [w if direction == "TB" else h for w, h in sizes]
    depth = [h if direction == "TB" else w for w, h in sizes]
    edges = graph_edges(nodes)
    node_layer = assign_layers(nodes, edges)
    layer_count = max(node_layer, default=-1) + 1

    # Chains of items per edge, with a dummy on every intermediate layer.
    item_layer = list(node_layer)
    order_key: list[float] = [float(i) for i in range(count)]
    chains: list[list[int]] = []
    for source, target in edges:
        upper, lower = (
            (source, target) if node_layer[source] < node_layer[target] else (target, source)
        )
        chain = [upper]
        for layer in range(node_layer[upper] + 1, node_layer[lower]):
            item_layer.append(layer)
            order_key.append(upper + 0.5)  # first guess: next to where the edge starts
            breadth.append(DUMMY_BREADTH)
            chain.append(len(item_layer) - 1)
        chain.append(lower)
        chains.append(chain)
    items = len(item_layer)
    up: list[list[int]] = [[] for _ in range(items)]
    down: list[list[int]] = [[] for _ in range(items)]
    for chain in chains:
        for a, b in zip(chain, chain[1:], strict=False):
            down[a].append(b)
            up[b].append(a)

    layers: list[list[int]] = [[] for _ in range(layer_count)]
    for item in sorted(range(items), key=lambda i: order_key[i]):
        layers[item_layer[item]].append(item)
    layers, crossings = reduce_crossings(layers, up, down, crossing_sweeps)

    along = assign_positions(layers, up, down, breadth, lambda item: item >= count)
    low = min((along[i] - breadth[i] / 2 for i in range(items)), default=0.0)
    high = max((along[i] + breadth[i] / 2 for i in range(items)), default=0.0)
    along = [value - low + MARGIN for value in along]

    # Each layer is as thick as its deepest node; layers are centred on a line.
    thickness = [min(depth, default=0.0)] * layer_count
    for i in range(count):
        thickness[node_layer[i]] = max(thickness[node_layer[i]], depth[i])
    centres, cursor = [], MARGIN
    for value in thickness:
        centres.append(cursor + value / 2)
        cursor += value + LAYER_GAP[direction]
    total_depth = cursor - LAYER_GAP[direction] + MARGIN if layer_count else 2 * MARGIN
    total_breadth = high - low + 2 * MARGIN

    pos = positions(layers, items)
    routes = _routes(
        chains, edges, along, depth, breadth, item_layer, centres, thickness, pos, up, down
    )

    def point(b: float, d: float) -> tuple[float, float]:
        return (round(b, 1), round(d, 1)) if direction == "TB" else (round(d, 1), round(b, 1))

    boxes = []
    for i, node in enumerate(nodes):
        x, y = point(along[i], centres[node_layer[i]])
        boxes.append(Box(i, str(node.get("name", i)), node_layer[i], x, y, *sizes[i]))
    for route in routes:
        route.points = [point(b, d) for b, d in route.points]
    width, height = (
        (total_breadth, total_depth) if direction == "TB" else (total_depth, total_breadth)
    )
    return Layout(boxes, routes, round(width), round(height), direction, layers, crossings)


def _routes(
    chains: list[list[int]],
    edges: list[tuple[int, int]],
    along: list[float],
    depth: list[float],
    breadth: list[float],
    item_layer: list[int],
    centres: list[float],
    thickness: list[float],
    pos: list[int],
    up: list[list[int]],
    down: list[list[int]],
) -> list[Route]:
    """Polylines in (along, depth) coordinates, before any transposition."""
    out_port: dict[tuple[int, int], float] = {}
    in_port: dict[tuple[int, int], float] = {}
    for item in range(len(depth)):  # real nodes only: dummies have a single way through
        below = sorted(down[item], key=lambda b: pos[b])
        for b, value in zip(below, _spread(along[item], len(below), breadth[item]), strict=True):
            out_port[(item, b)] = value
        above = sorted(up[item], key=lambda a: pos[a])
        for a, value in zip(above, _spread(along[item], len(above), breadth[item]), strict=True):
            in_port[(a, item)] = value
    routes = []
    for chain, (source, target) in zip(chains, edges, strict=True):
        upper, lower = chain[0], chain[-1]
        points = [(out_port[(upper, chain[1])], centres[item_layer[upper]] + depth[upper] / 2)]
        for item in chain[1:-1]:
            centre, half = centres[item_layer[item]], thickness[item_layer[item]] / 2
            points += [(along[item], centre - half), (along[item], centre + half)]
        points.append((in_port[(chain[-2], lower)], centres[item_layer[lower]] - depth[lower] / 2))
        flipped = upper != source
        routes.append(Route(source, target, points[::-1] if flipped else points, flipped))
    return routes
