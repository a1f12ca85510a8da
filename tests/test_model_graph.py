"""Model graphs at every level, from real models: fx where it traces, forward hooks otherwise."""

import torch
from torch import nn

from torchstudio.model.describe import describe_module
from torchstudio.model.graph import build_graph, max_depth
from torchstudio.models import MNISTClassifier, ResNet, UNet2D

KINDS = {"input", "module", "function", "method", "output"}
KEYS = {"name", "kind", "op", "target", "params", "shape", "dtype", "inputs"}


class TwoWay(nn.Module):
    """Two inputs (an image and a feature vector), two outputs (classes and a value)."""

    def __init__(self) -> None:
        super().__init__()
        self.image = nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten()
        )
        self.features = nn.Linear(5, 4)
        self.classes = nn.Linear(8, 3)
        self.value = nn.Linear(8, 1)

    def forward(self, image, features):
        joined = torch.cat([self.image(image), torch.relu(self.features(features))], dim=1)
        return self.classes(joined), self.value(joined)


class Branchy(nn.Module):
    """Data-dependent control flow: torch.fx cannot trace it."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(4, 8)
        self.b = nn.Linear(4, 8)
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(16, 2))

    def forward(self, x):
        y = self.a(x) if x.sum() > 0 else self.b(x)
        return self.head(torch.cat([y, self.b(x)], dim=1))


class Outer(nn.Module):
    """Traceable itself, with an untraceable submodule."""

    def __init__(self) -> None:
        super().__init__()
        self.inner = Branchy()
        self.out = nn.Linear(2, 3)

    def forward(self, x):
        return self.out(self.inner(x) * 2)


def check_graph(graph):
    """Every level exists, and every node's inputs name earlier nodes of the same level."""
    assert set(graph["levels"]) == {str(n) for n in range(1, graph["max_depth"] + 1)}
    for level in graph["levels"].values():
        nodes = level["nodes"]
        assert level["tracer"] in ("fx", "hooks")
        seen = set()
        for node in nodes:
            # fx nodes also say which module calls they run inside (for views: test_graph_view)
            assert set(node) - {"scope"} == KEYS and node["kind"] in KINDS
            assert ("scope" in node) == (level["tracer"] == "fx")
            assert node["name"] not in seen
            assert all(name in seen for name in node["inputs"]), node
            seen.add(node["name"])
        assert nodes[0]["kind"] == "input" and nodes[-1]["kind"] == "output"
        assert nodes[-1]["inputs"], "the output must come from somewhere"


def by_name(graph, level):
    return {node["name"]: node for node in graph["levels"][str(level)]["nodes"]}


def build(model, *inputs):
    return build_graph(model.eval(), list(inputs))


def test_mnist_classifier_levels_shapes_and_params():
    graph = build(MNISTClassifier(), torch.rand(1, 1, 8, 8))
    check_graph(graph)
    assert graph["tracer"] == "fx" and graph["max_depth"] == 2
    top = by_name(graph, 1)
    assert list(top) == ["x", "features", "classifier", "output"]
    assert top["features"]["shape"] == [1, 64, 4, 4] and top["features"]["inputs"] == ["x"]
    assert top["classifier"]["op"] == "Sequential" and top["output"]["shape"] == [1, 10]
    assert top["features"]["params"] == "18,816 params"
    deep = by_name(graph, 2)
    conv = deep["features_0"]
    assert (conv["op"], conv["target"], conv["dtype"]) == ("Conv2d", "features.0", "float32")
    assert conv["params"] == "1→32, k=3 · 320 params"
    assert deep["classifier_0"]["shape"] == [1, 1024]


def test_resnet_every_depth_down_to_layers():
    graph = build(ResNet(in_channels=3, num_classes=7), torch.rand(1, 3, 8, 8))
    check_graph(graph)
    assert graph["tracer"] == "fx" and graph["max_depth"] == 4
    top = by_name(graph, 1)
    assert top["flatten"]["kind"] == "function" and top["flatten"]["shape"] == [1, 128]
    assert top["fc"]["params"] == "128→7 · 903 params"
    deepest = graph["levels"]["4"]["nodes"]
    ops = {node["op"] for node in deepest}
    assert {"Conv2d", "BatchNorm2d", "ReLU", "add"} <= ops
    assert not {"Sequential", "_Block"} & ops
    sizes = [len(graph["levels"][str(n)]["nodes"]) for n in range(1, 5)]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]


def test_unet2d_on_odd_sizes_gets_a_hooks_graph_with_skips():
    graph = build(UNet2D(in_channels=3, out_channels=2, depth=2), torch.rand(1, 3, 13, 11))
    check_graph(graph)
    # Its padding loop iterates over a shape, which fx cannot trace.
    assert graph["tracer"] == "hooks"
    top = by_name(graph, 1)
    assert top["output"]["shape"] == [1, 2, 13, 11]
    assert top["down_0"]["shape"] == [1, 16, 16, 12]  # padded to multiples of 4
    # The decoder block reads the upsampled map and the skip connection.
    assert top["up_0"]["inputs"] == ["upsample_0", "down_1"]
    assert top["head"]["inputs"] == ["up_1"] and top["output"]["inputs"] == ["head"]


def test_two_inputs_two_outputs():
    graph = build(TwoWay(), torch.rand(1, 1, 8, 8), torch.rand(1, 5))
    check_graph(graph)
    top = by_name(graph, 1)
    inputs = [n for n in graph["levels"]["1"]["nodes"] if n["kind"] == "input"]
    assert [n["name"] for n in inputs] == ["image", "features"]
    cat = top["cat"]
    assert cat["kind"] == "function" and cat["shape"] == [1, 8]
    assert top["output"]["shape"] == [[1, 3], [1, 1]]
    assert top["output"]["dtype"] == ["float32", "float32"]
    assert top["output"]["inputs"] == ["classes", "value"]


def test_untraceable_model_falls_back_to_hooks_with_shapes():
    graph = build(Branchy(), torch.ones(1, 4))
    check_graph(graph)
    assert graph["tracer"] == "hooks" and graph["max_depth"] == 2
    top = by_name(graph, 1)
    assert [n["name"] for n in graph["levels"]["1"]["nodes"]] == ["x", "a", "b", "head", "output"]
    # cat() between modules is followed: head reads both branches.
    assert top["head"]["inputs"] == ["a", "b"] and top["head"]["shape"] == [1, 2]
    deep = by_name(graph, 2)
    assert deep["head_1"]["op"] == "Linear" and deep["head_1"]["inputs"] == ["head_0"]
    assert deep["head_1"]["params"] == "16→2 · 34 params"


def test_untraceable_submodule_is_kept_whole_by_fx():
    graph = build(Outer(), torch.ones(1, 4))
    check_graph(graph)
    assert graph["tracer"] == "fx"
    deep = by_name(graph, 2)
    assert deep["inner"]["op"] == "Branchy" and deep["inner"]["shape"] == [1, 2]
    assert deep["mul"]["inputs"] == ["inner"] and deep["out"]["inputs"] == ["mul"]


def test_module_lists_are_no_level_and_summaries():
    model = nn.Sequential(nn.ModuleList([nn.Linear(2, 2)]))
    assert max_depth(model) == 1 and max_depth(nn.Linear(2, 2)) == 1
    assert describe_module(nn.Conv2d(3, 8, (3, 5), stride=2)) == "3→8, k=3×5, s=2 · 368 params"
    assert describe_module(nn.ReLU()) == ""
    assert describe_module(nn.Dropout(0.25)) == "p=0.25"
    assert describe_module(nn.BatchNorm2d(4)) == "4 · 8 params"


def test_model_without_submodules():
    class Plain(nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = nn.Parameter(torch.ones(3))

        def forward(self, x):
            return (x * self.weight).relu()

    graph = build(Plain(), torch.rand(2, 3))
    check_graph(graph)
    nodes = by_name(graph, 1)
    assert nodes["weight"]["kind"] == "input" and nodes["weight"]["op"] == "attribute"
    assert nodes["mul"]["inputs"] == ["x", "weight"] and nodes["relu"]["kind"] == "method"
