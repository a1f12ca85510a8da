"""One view of a model graph: a depth level with some of its modules opened in place.

A graph traced by torch.fx at every level records, on each node of its deepest level, the
module calls it runs inside (`scope`: [call key, module path, class name, depth], outermost
first; a second call of one module has the key "path@1"). A view groups those deepest nodes:
each goes into the outermost call that stands closed in the view (at or below the chosen
level and not opened), and a group is drawn as that module's node. A module call's nodes run
one after another, so groups never form cycles. Graphs without scopes (traced by hooks, or
stored before scopes existed) have no view but their levels: nothing opens in place there.

Every node of a view says what the page may do with it: `key` (its call, to open or close),
`expandable` (it has children to show) and `parent` (the opened call it is drawn inside, to
close it again), and `input_shapes` (the shapes it reads, for its details).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

Node = dict[str, Any]


def has_scopes(graph: dict[str, Any]) -> bool:
    """Whether the graph's deepest level can be regrouped (fx-traced, with scopes)."""
    deep = _deepest(graph)
    return bool(deep) and deep.get("tracer") == "fx" and all("scope" in n for n in deep["nodes"])


def _deepest(graph: dict[str, Any]) -> dict[str, Any]:
    levels = graph.get("levels") or {}
    if not levels:
        return {}
    return levels[str(max(int(k) for k in levels))]


def _level(graph: dict[str, Any], level: int) -> dict[str, Any]:
    levels = graph.get("levels") or {}
    return levels.get(str(level)) or _deepest(graph)


def _closed_call(node: Node, level: int, opened: Collection[str]) -> list[Any] | None:
    """The outermost call around `node` that the view shows closed, or None."""
    for entry in node.get("scope") or []:
        _key, _path, _cls, depth = entry
        if depth >= level and entry[0] not in opened:
            return entry
    return None


def _parent(scope: list[list[Any]], opened: Collection[str]) -> str | None:
    """The innermost opened call among `scope`'s entries."""
    inside = [entry[0] for entry in scope if entry[0] in opened]
    return inside[-1] if inside else None


def _module_node(graph: dict[str, Any], entry: list[Any], members: list[Node]) -> Node:
    """The node of a closed module call: as its own level traced it, else from its members."""
    key, path, cls, depth = entry
    call = int(key.rsplit("@", 1)[1]) if "@" in key else 0
    same = [
        n
        for n in _level(graph, depth).get("nodes", [])
        if n.get("kind") == "module" and n.get("target") == path
    ]
    if call < len(same):
        found = same[call]
        node = {k: v for k, v in found.items() if k not in ("inputs", "scope")}
    else:  # a level that kept an outer module whole: described from what ran inside it
        last = members[-1]
        node = {"kind": "module", "op": cls, "target": path, "params": ""}
        node.update(shape=last.get("shape"), dtype=last.get("dtype"))
    node["name"] = key
    return node


def graph_view(graph: dict[str, Any], level: int, opened: Collection[str] = ()) -> list[Node]:
    """The nodes to draw for `level` with the module calls in `opened` opened in place."""
    if not has_scopes(graph):
        return [dict(n) for n in _level(graph, level).get("nodes", [])]
    opened = set(opened)
    members: dict[str, list[Node]] = {}  # call key -> its deepest nodes
    drawn_as: dict[str, str] = {}  # deepest node name -> the name it is drawn under
    order: list[tuple[str, Any]] = []  # ("node", node) or ("call", scope entry)
    for node in _deepest(graph)["nodes"]:
        entry = _closed_call(node, level, opened)
        if entry is None:
            drawn_as[node["name"]] = node["name"]
            order.append(("node", node))
            continue
        if entry[0] not in members:
            members[entry[0]] = []
            order.append(("call", entry))
        members[entry[0]].append(node)
        drawn_as[node["name"]] = entry[0]
    shapes: dict[str, Any] = {}
    view: list[Node] = []
    for kind, item in order:
        if kind == "node":
            node = {k: v for k, v in item.items() if k != "scope"}
            sources = item.get("inputs") or []
            scope = item.get("scope") or []
            node["expandable"] = False
            node["key"] = scope[-1][0] if scope and item.get("kind") == "module" else None
        else:
            inside = members[item[0]]
            node = _module_node(graph, item, inside)
            names = {n["name"] for n in inside}
            sources = [s for n in inside for s in n.get("inputs") or [] if s not in names]
            only = inside[0]
            node["expandable"] = not (
                len(inside) == 1 and only.get("kind") == "module" and only.get("target") == item[1]
            )
            node["key"] = item[0]
            scope = (only.get("scope") or [])[: [e[0] for e in only["scope"]].index(item[0])]
        inputs = list(dict.fromkeys(drawn_as[s] for s in sources if drawn_as[s] != node["name"]))
        node["inputs"] = inputs
        node["parent"] = _parent(scope, opened)
        node["input_shapes"] = [shapes.get(s) for s in inputs]
        shapes[node["name"]] = node.get("shape")
        view.append(node)
    return view
