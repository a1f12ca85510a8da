"""graphdraw: time to lay out and draw model graphs, and what crossing reduction gains.

Run: python benchmarks/bench_graphdraw.py

Graphs: ResNet-50-like (177 nodes) and ResNet-152-like (517 nodes) with their skip
connections and downsample branches, and seeded random DAGs (180 and 500 nodes) with many
edges to untangle. Times are the best of a few runs of draw_svg (layout + SVG text);
crossings are counted on the layer orders, first as the node order gives them
(crossing_sweeps=0) then after the barycenter sweeps and swaps.
"""

from __future__ import annotations

import time

from torchstudio.graph.synthetic import random_graph, resnet_graph
from torchstudio.graphdraw import draw_svg, layout

REPEATS = 3
GOAL_SECONDS_180 = 2.0


def best_time(graph: dict) -> float:
    best = float("inf")
    for _ in range(REPEATS):
        started = time.perf_counter()
        draw_svg(graph)
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    graphs = {
        "resnet-50 like": resnet_graph(),
        "resnet-152 like": resnet_graph((3, 8, 36, 3)),
        "random DAG 180": random_graph(180, seed=1),
        "random DAG 500": random_graph(500, seed=1),
    }
    print(f"best of {REPEATS} runs of draw_svg (layout + SVG)")
    print(
        f"{'graph':<16} {'nodes':>5} {'time':>8}  {'crossings before':>16} {'after':>6} {'ratio':>6}"
    )
    times = {}
    for name, graph in graphs.items():
        nodes = graph["nodes"]
        times[name] = best_time(graph)
        before = layout(nodes, crossing_sweeps=0).crossings
        after = layout(nodes).crossings
        ratio = f"{after / before:.2f}" if before else "-"
        print(
            f"{name:<16} {len(nodes):>5} {times[name] * 1000:>6.0f}ms  {before:>16} {after:>6} {ratio:>6}"
        )
    fast = max(times["resnet-50 like"], times["random DAG 180"]) < GOAL_SECONDS_180
    print(f"goal: ~180 nodes drawn in < {GOAL_SECONDS_180:.0f} s: {'met' if fast else 'MISSED'}")


if __name__ == "__main__":
    main()
