"""Crossing reduction for a layered graph: barycenter sweeps and adjacent swaps.

Items are ints; `up[item]` / `down[item]` are its neighbours one layer above / below.
"""

from __future__ import annotations

CROSSING_SWEEPS = 24


def _layer_crossings(upper: list[int], down: list[list[int]], pos: list[int], size: int) -> int:
    """Crossings between one layer and the next: inversions of the lower ends of the edges
    taken in the order of their upper ends, counted with a Fenwick tree."""
    tree = [0] * (size + 1)
    crossings = seen = 0
    for a in upper:
        for p in sorted(pos[b] for b in down[a]):
            # Edges already seen whose lower end lies right of p cross this one.
            i, not_greater = p + 1, 0
            while i > 0:
                not_greater += tree[i]
                i -= i & -i
            crossings += seen - not_greater
            i = p + 1
            while i <= size:
                tree[i] += 1
                i += i & -i
            seen += 1
    return crossings


def count_crossings(layers: list[list[int]], down: list[list[int]]) -> int:
    """Edge crossings of an ordering: `down[item]` are the item's neighbours one layer below."""
    pos = positions(layers, len(down))
    return sum(
        _layer_crossings(layers[i], down, pos, len(layers[i + 1])) for i in range(len(layers) - 1)
    )


def positions(layers: list[list[int]], count: int) -> list[int]:
    """Index of every item within its layer."""
    pos = [0] * count
    for layer in layers:
        for i, item in enumerate(layer):
            pos[item] = i
    return pos


def _sort_by_barycenter(layer: list[int], ref: list[list[int]], pos: list[int]) -> None:
    # Items without neighbours on the reference side keep their slot; others are sorted.
    keyed = []
    free_slots = []
    for slot, item in enumerate(layer):
        if ref[item]:
            keyed.append((sum(pos[a] for a in ref[item]) / len(ref[item]), slot, item))
            free_slots.append(slot)
    keyed.sort()
    for slot, (_, _, item) in zip(free_slots, keyed, strict=True):
        layer[slot] = item
    for i, item in enumerate(layer):
        pos[item] = i


def _pair_cost(u: int, v: int, nbrs: list[list[int]], pos: list[int]) -> int:
    """Crossings between the edges of u and of v on one side when u is left of v."""
    return sum(1 for a in nbrs[u] for b in nbrs[v] if pos[a] > pos[b])


def _transpose(
    layers: list[list[int]], up: list[list[int]], down: list[list[int]], pos: list[int]
) -> None:
    """Swap neighbours in a layer while that removes crossings (a few passes at most)."""
    for _ in range(4):
        improved = False
        for layer in layers:
            for i in range(len(layer) - 1):
                u, v = layer[i], layer[i + 1]
                now = _pair_cost(u, v, up, pos) + _pair_cost(u, v, down, pos)
                if now and _pair_cost(v, u, up, pos) + _pair_cost(v, u, down, pos) < now:
                    layer[i], layer[i + 1] = v, u
                    pos[u], pos[v] = i + 1, i
                    improved = True
        if not improved:
            return


def reduce_crossings(
    layers: list[list[int]],
    up: list[list[int]],
    down: list[list[int]],
    sweeps: int = CROSSING_SWEEPS,
) -> tuple[list[list[int]], int]:
    """The best ordering found by alternate barycenter sweeps, and its crossing count."""
    best = [list(layer) for layer in layers]
    best_count = count_crossings(best, down)
    pos = positions(layers, len(up))
    stale = 0
    for sweep in range(sweeps):
        if best_count == 0 or stale >= 4:
            break
        if sweep % 2 == 0:
            for i in range(1, len(layers)):
                _sort_by_barycenter(layers[i], up, pos)
        else:
            for i in range(len(layers) - 2, -1, -1):
                _sort_by_barycenter(layers[i], down, pos)
        _transpose(layers, up, down, pos)
        count = count_crossings(layers, down)
        if count < best_count:
            best, best_count, stale = [list(layer) for layer in layers], count, 0
        else:
            stale += 1
    return best, best_count
