"""Synthetic model graphs in modelbuild's format, for tests, benchmarks and demos.

`resnet_graph` has the structure torch.fx gives a torchvision ResNet (bottleneck blocks:
conv/bn/relu three times, the addition of the shortcut, a downsample branch at the start
of each stage); `random_graph` is a seeded random DAG with many crossings to untangle.
"""

from __future__ import annotations

import random
from typing import Any

Node = dict[str, Any]


def _node(name: str, kind: str, op: str, inputs: list[str], shape: list[int] | None) -> Node:
    return {
        "name": name,
        "kind": kind,
        "op": op,
        "params": "",
        "shape": shape,
        "dtype": None if shape is None else "float32",
        "inputs": inputs,
    }


def resnet_graph(stages: tuple[int, ...] = (3, 4, 6, 3)) -> dict[str, Any]:
    """A ResNet-50-like graph (177 nodes by default; (3, 8, 36, 3) gives ResNet-152's 517)."""
    nodes = [_node("x", "input", "x", [], [1, 3, 224, 224])]

    def add(name: str, kind: str, op: str, inputs: list[str], shape: list[int]) -> str:
        nodes.append(_node(name, kind, op, inputs, shape))
        return name

    last = add("conv1", "module", "Conv2d", ["x"], [1, 64, 112, 112])
    last = add("bn1", "module", "BatchNorm2d", [last], [1, 64, 112, 112])
    last = add("relu", "module", "ReLU", [last], [1, 64, 112, 112])
    last = add("maxpool", "module", "MaxPool2d", [last], [1, 64, 56, 56])
    size, width = 56, 64
    for stage, blocks in enumerate(stages, start=1):
        if stage > 1:
            size //= 2
        for block in range(blocks):
            prefix = f"layer{stage}.{block}"
            shape = [1, width * 4, size, size]
            shortcut = last
            for step, channels in enumerate((width, width, width * 4), start=1):
                inner = [1, channels, size, size]
                last = add(f"{prefix}.conv{step}", "module", "Conv2d", [last], inner)
                last = add(f"{prefix}.bn{step}", "module", "BatchNorm2d", [last], inner)
                if step < 3:
                    last = add(f"{prefix}.relu_{step}", "module", "ReLU", [last], inner)
            if block == 0:
                down = add(f"{prefix}.downsample.0", "module", "Conv2d", [shortcut], shape)
                shortcut = add(f"{prefix}.downsample.1", "module", "BatchNorm2d", [down], shape)
            last = add(f"{prefix}.add", "function", "add", [last, shortcut], shape)
            last = add(f"{prefix}.relu_3", "module", "ReLU", [last], shape)
        width *= 2
    last = add("avgpool", "module", "AdaptiveAvgPool2d", [last], [1, 2048, 1, 1])
    last = add("flatten", "function", "flatten", [last], [1, 2048])
    last = add("fc", "module", "Linear", [last], [1, 1000])
    add("output", "output", "output", [last], [1, 1000])
    return {"tracer": "fx", "nodes": nodes}


def random_graph(count: int, seed: int = 0, fan_in: int = 2, reach: int = 12) -> dict[str, Any]:
    """A random DAG in topological order: each node reads up to `fan_in` of the `reach`
    nodes before it."""
    rng = random.Random(seed)
    nodes = [_node("n0", "input", "x", [], [1, 8])]
    for i in range(1, count):
        sources = rng.sample(range(max(0, i - reach), i), min(i, rng.randint(1, fan_in)))
        op = "add" if len(sources) > 1 else rng.choice(["Linear", "ReLU", "Dropout"])
        kind = "function" if op == "add" else "module"
        nodes.append(_node(f"n{i}", kind, op, [f"n{s}" for s in sources], [1, 8]))
    return {"tracer": "fx", "nodes": nodes}
