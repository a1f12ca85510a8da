"""graphdraw: the layered layout, the SVG, and the worker over a real socket."""

import itertools
import time
import xml.etree.ElementTree as ET

import pytest

from torchstudio.app.runtime.manager import WorkerError, WorkerManager
from torchstudio.graph.labels import node_texts, shape_text
from torchstudio.graph.layout import graph_edges
from torchstudio.graph.synthetic import random_graph, resnet_graph
from torchstudio.graphdraw import GraphError, draw_svg, layout

SVG = "{http://www.w3.org/2000/svg}"


def node(name, inputs=(), kind="module", op=None, shape=(1, 8)):
    return {
        "name": name,
        "kind": kind,
        "op": op or name,
        "params": "",
        "shape": list(shape) if shape is not None else None,
        "dtype": "float32",
        "inputs": list(inputs),
    }


def diamond_with_skip():
    """x feeds a and b, which meet in c, plus a skip edge x -> d around everything."""
    return [
        node("x", kind="input"),
        node("a", ["x"]),
        node("b", ["x"]),
        node("c", ["a", "b"], kind="function", op="add"),
        node("r", ["c"]),
        node("d", ["r", "x"], kind="function", op="add"),
        node("out", ["d"], kind="output"),
    ]


def tangled():
    """Two independent chains whose node order interleaves them so the first guess crosses."""
    return [
        node("x1", kind="input"),
        node("x2", kind="input"),
        node("b1", ["x2"]),
        node("a1", ["x1"]),
        node("a2", ["a1"]),
        node("b2", ["b1"]),
        node("sum", ["b2", "a2"], kind="function", op="add"),
    ]


def _segments(route):
    return list(itertools.pairwise(route.points))


def _orientation(p, q, r):
    value = (q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0])
    return (value > 1e-9) - (value < -1e-9)


def _proper_crossing(s, t):
    (p1, p2), (p3, p4) = s, t
    o1, o2 = _orientation(p1, p2, p3), _orientation(p1, p2, p4)
    o3, o4 = _orientation(p3, p4, p1), _orientation(p3, p4, p2)
    return o1 * o2 < 0 and o3 * o4 < 0


def geometric_crossings(graph_layout):
    """Crossings counted on the drawn polylines, independently of the layout's own count."""
    return sum(
        _proper_crossing(s, t)
        for a, b in itertools.combinations(graph_layout.routes, 2)
        for s in _segments(a)
        for t in _segments(b)
    )


def assert_well_formed(nodes, graph_layout):
    boxes = graph_layout.boxes
    assert [box.name for box in boxes] == [n["name"] for n in nodes]
    # No two boxes of a layer overlap.
    by_layer = {}
    for box in boxes:
        by_layer.setdefault(box.layer, []).append(box)
    for row in by_layer.values():
        row.sort(key=lambda box: box.x)
        for left, right in itertools.pairwise(row):
            assert left.x + left.width / 2 < right.x - right.width / 2, (left.name, right.name)
    # Every edge is routed, from the source's border to the target's, downwards.
    edges = graph_edges(nodes)
    assert {(r.source, r.target) for r in graph_layout.routes} == set(edges)
    for route in graph_layout.routes:
        source, target = boxes[route.source], boxes[route.target]
        assert (target.layer > source.layer) != route.reversed
        start, end = route.points[0], route.points[-1]
        assert abs(start[0] - source.x) <= source.width / 2
        assert abs(end[0] - target.x) <= target.width / 2
        edge_of = (lambda box: box.y + box.height / 2), (lambda box: box.y - box.height / 2)
        if route.reversed:
            edge_of = edge_of[::-1]
        assert start[1] == pytest.approx(edge_of[0](source), abs=0.1)
        assert end[1] == pytest.approx(edge_of[1](target), abs=0.1)
        # Straight stretches through a layer never cut through a box of that layer.
        for (x0, y0), (x1, y1) in _segments(route):
            if x0 == x1:
                for box in boxes:
                    inside_y = min(y0, y1) < box.y < max(y0, y1)
                    assert not (inside_y and abs(x0 - box.x) < box.width / 2), box.name
    for box in boxes:
        assert box.width / 2 <= box.x <= graph_layout.width - box.width / 2
        assert box.height / 2 <= box.y <= graph_layout.height - box.height / 2


def test_shape_texts():
    assert shape_text([1, 32, 8, 8]) == "1×32×8×8"
    assert shape_text([[1, 10], [1, 4]]) == "(1×10, 1×4)"
    assert shape_text([]) == "scalar"
    assert shape_text(None) == ""
    assert shape_text([1, None]) == "1×?"
    assert node_texts({"name": "fc", "op": "Linear", "shape": [2, 5]}) == ("Linear", "2×5")


def test_chain_is_straight_and_layers_follow_the_edges():
    nodes = [node("x", kind="input")] + [
        node(f"n{i}", [f"n{i - 1}" if i else "x"]) for i in range(5)
    ]
    nodes[3]["op"] = "AVeryLongOperationName"  # wider box, same centre line
    graph_layout = layout(nodes)
    assert_well_formed(nodes, graph_layout)
    assert [box.layer for box in graph_layout.boxes] == list(range(6))
    assert len({box.x for box in graph_layout.boxes}) == 1
    assert graph_layout.crossings == 0


def test_diamond_and_skip_without_crossings():
    nodes = diamond_with_skip()
    graph_layout = layout(nodes)
    assert_well_formed(nodes, graph_layout)
    assert graph_layout.crossings == 0 and geometric_crossings(graph_layout) == 0
    boxes = {box.name: box for box in graph_layout.boxes}
    assert boxes["out"].layer == max(box.layer for box in graph_layout.boxes)
    assert boxes["a"].layer == boxes["b"].layer == 1


def test_crossing_reduction_untangles():
    nodes = tangled()
    assert layout(nodes, crossing_sweeps=0).crossings > 0
    graph_layout = layout(nodes)
    assert_well_formed(nodes, graph_layout)
    assert graph_layout.crossings == 0 and geometric_crossings(graph_layout) == 0


def test_random_graph_crossings_are_reduced_and_counted_right():
    nodes = random_graph(60, seed=3)["nodes"]
    before = layout(nodes, crossing_sweeps=0)
    after = layout(nodes)
    assert_well_formed(nodes, after)
    assert after.crossings < before.crossings
    assert geometric_crossings(after) == after.crossings


def test_resnet50_sized_graph_draws_fast_without_crossings():
    graph = resnet_graph()
    nodes = graph["nodes"]
    assert 170 <= len(nodes) <= 190
    started = time.perf_counter()
    svg = draw_svg(graph)
    elapsed = time.perf_counter() - started
    assert elapsed < 2.0, f"{elapsed:.2f} s"
    graph_layout = layout(nodes)
    assert_well_formed(nodes, graph_layout)
    assert graph_layout.crossings == 0
    assert len(ET.fromstring(svg).findall(f".//{SVG}g[@class='node']")) == len(nodes)


def test_edges_against_the_node_order_and_unknown_inputs():
    nodes = [
        node("x", kind="input"),
        node("a", ["x", "c"]),  # c comes later: laid out as an edge going up
        node("b", ["a", "missing"]),
        node("c", ["b", "c"]),  # self-loop ignored
    ]
    graph_layout = layout(nodes)
    assert_well_formed(nodes, graph_layout)
    assert [r.reversed for r in graph_layout.routes].count(True) == 1


def test_left_to_right():
    nodes = diamond_with_skip()
    graph_layout = layout(nodes, "LR")
    boxes = {box.name: box for box in graph_layout.boxes}
    assert boxes["x"].x < boxes["a"].x < boxes["c"].x < boxes["out"].x
    assert graph_layout.width > graph_layout.height
    ET.fromstring(draw_svg({"nodes": nodes}, {"direction": "LR"}))


def test_svg_is_standalone_and_escapes_text():
    nodes = [
        node("in<put>", kind="input", op="x & y"),
        node('a"b', ["in<put>"], op="<lambda>", shape=[[1, 2], [3]]),
        node("out", ['a"b'], kind="output", shape=None),
    ]
    nodes[1]["params"] = "1→2 <weird> & co"
    svg = draw_svg({"tracer": "fx", "nodes": nodes})
    assert "<lambda>" not in svg and "&lt;lambda&gt;" in svg
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    width, height = float(root.get("width")), float(root.get("height"))
    assert root.get("viewBox") == f"0 0 {root.get('width')} {root.get('height')}"
    assert width > 0 and height > 0
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert {"x & y", "<lambda>", "(1×2, 3)", "out"} <= set(texts)
    titles = [t.text for t in root.iter(f"{SVG}title")]
    assert any("in<put>" in t for t in titles) and any("1→2 <weird> & co" in t for t in titles)
    assert [g.get("data-name") for g in root.iter(f"{SVG}g") if g.get("class") == "node"] == [
        "in<put>",
        'a"b',
        "out",
    ]
    assert len(root.findall(f".//{SVG}path[@class='edge']")) == 2


def test_empty_graph_and_bad_requests():
    root = ET.fromstring(draw_svg({"nodes": []}))
    assert float(root.get("width")) > 0
    with pytest.raises(GraphError, match="nodes"):
        draw_svg({"edges": []})
    with pytest.raises(GraphError, match="node 0"):
        draw_svg({"nodes": [{"op": "x"}]})
    with pytest.raises(GraphError, match="direction"):
        draw_svg({"nodes": []}, {"direction": "sideways"})


async def test_graphdraw_worker():
    async with WorkerManager() as manager:
        worker = await manager.start_worker("graphdraw")
        svg = await worker.request("draw", {"graph": resnet_graph((1, 1)), "direction": "TB"})
        assert ET.fromstring(svg).tag == f"{SVG}svg"
        with pytest.raises(WorkerError, match="nodes"):
            await worker.request("draw", {"graph": {"nodes": 3}})
        svg = await worker.request("draw", {"graph": {"nodes": diamond_with_skip()}})
        assert "add" in svg
