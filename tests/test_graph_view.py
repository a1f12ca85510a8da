"""Graph views: a depth level with modules opened in place, from real fx-traced models."""

import torch
from torch import nn

from torchstudio.graph.svg import render_svg
from torchstudio.graph.view import graph_view, has_scopes
from torchstudio.graphdraw import layout
from torchstudio.model.graph import build_graph


class Block(nn.Module):
    """A residual block: its add runs inside it, not inside any child."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(self.conv(x) + x)


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, 4, 3, padding=1)
        self.blocks = nn.Sequential(Block(), Block())
        self.act = nn.ReLU()  # called twice: two calls, two nodes
        self.head = nn.Linear(4, 3)

    def forward(self, x):
        x = self.act(self.blocks(self.act(self.stem(x))))
        return self.head(x.mean((2, 3)))


def net_graph():
    return build_graph(Net().eval(), [torch.randn(1, 1, 6, 6)])


def summary(nodes):
    return [(n["name"], n["op"], n["inputs"]) for n in nodes]


def test_a_closed_view_is_its_level():
    graph = net_graph()
    assert has_scopes(graph)
    for level in range(1, graph["max_depth"] + 1):
        traced = graph["levels"][str(level)]["nodes"]
        view = graph_view(graph, level)
        assert [(n["op"], n["target"], n["shape"]) for n in view] == [
            (n["op"], n["target"], n["shape"]) for n in traced
        ]
        assert len(view) == len(traced)
    level1 = {n["name"]: n for n in graph_view(graph, 1)}
    assert level1["blocks"]["expandable"] and not level1["stem"]["expandable"]
    assert level1["act@1"]["inputs"] == ["blocks"]  # the second call of one module
    assert level1["blocks"]["input_shapes"] == [[1, 4, 6, 6]]


def test_opening_a_module_draws_its_children_in_place_and_closing_undoes_it():
    graph = net_graph()
    opened = graph_view(graph, 1, {"blocks"})
    assert summary(opened)[:6] == [
        ("x", "input", []),
        ("stem", "Conv2d", ["x"]),
        ("act", "ReLU", ["stem"]),
        ("blocks.0", "Block", ["act"]),
        ("blocks.1", "Block", ["blocks.0"]),
        ("act@1", "ReLU", ["blocks.1"]),
    ]
    inside = {n["name"]: n for n in opened}
    assert inside["blocks.0"]["parent"] == "blocks" and inside["blocks.0"]["expandable"]
    assert inside["stem"]["parent"] is None
    deeper = {n["name"]: n for n in graph_view(graph, 1, {"blocks", "blocks.1"})}
    # The residual add runs in blocks.1 itself: it is drawn there, reading the conv and x.
    adds = [n for n in deeper.values() if n["op"] == "add"]
    assert len(adds) == 1 and adds[0]["parent"] == "blocks.1"
    assert adds[0]["inputs"] == ["blocks.1.conv", "blocks.0"]
    assert deeper["blocks.1.act"]["inputs"] == [adds[0]["name"]]
    assert deeper["blocks.0"]["expandable"] and "blocks.0.conv" not in deeper
    # Closing is opening less: the level's own view again.
    assert summary(graph_view(graph, 1, set())) == summary(graph_view(graph, 1))


def test_the_drawing_marks_what_opens_and_what_closes():
    graph = net_graph()
    nodes = graph_view(graph, 1, {"blocks"})
    svg = render_svg(layout(nodes, "TB"), nodes)
    assert 'data-key="blocks.0" data-parent="blocks" data-expandable="1"' in svg
    assert 'data-key="stem"' in svg and 'data-key="stem" data-expandable' not in svg
    assert "input: 1×4×6×6" in svg and "double-click: close blocks" in svg


def test_a_graph_traced_by_hooks_has_its_levels_only():
    class Branchy(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = nn.Sequential(nn.Linear(2, 2), nn.ReLU())

        def forward(self, x):
            return self.inner(x) if x.sum() > 0 else x

    graph = build_graph(Branchy().eval(), [torch.ones(1, 2)])
    assert not has_scopes(graph)
    view = graph_view(graph, 1, {"inner"})
    assert [n["name"] for n in view] == [n["name"] for n in graph["levels"]["1"]["nodes"]]
