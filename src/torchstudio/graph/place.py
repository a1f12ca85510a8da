"""Coordinates along the layers: weighted least squares per layer, then straight chains.

Each layer in turn is placed as close as possible to its neighbours in the layers above
and below (isotonic regression keeps the order and the spacing); edges between dummies
weigh most, so long edges run straight. Chains of boxes are then put on one line.
"""

from __future__ import annotations

from collections.abc import Callable

NODE_GAP = 24.0  # px between two boxes of a layer
DUMMY_GAP = 10.0  # px between an edge and its neighbours
PLACEMENT_SWEEPS = 40


def _fit_layer(targets: list[float], weights: list[float], offsets: list[float]) -> list[float]:
    """Positions closest to `targets` (weighted least squares) with x[i+1] - x[i] >= the
    spacing encoded in `offsets` (cumulative): pool-adjacent-violators on x - offset."""
    blocks: list[list[float]] = []  # [weight, weighted sum, count]
    for target, weight, offset in zip(targets, weights, offsets, strict=True):
        blocks.append([weight, weight * (target - offset), 1])
        while len(blocks) > 1 and blocks[-2][1] * blocks[-1][0] >= blocks[-1][1] * blocks[-2][0]:
            weight_b, total_b, count_b = blocks.pop()
            blocks[-1][0] += weight_b
            blocks[-1][1] += total_b
            blocks[-1][2] += count_b
    values: list[float] = []
    for weight, total, count in blocks:
        values.extend([total / weight] * int(count))
    return [value + offset for value, offset in zip(values, offsets, strict=True)]


def assign_positions(
    layers: list[list[int]],
    up: list[list[int]],
    down: list[list[int]],
    breadth: list[float],
    is_dummy: Callable[[int], bool],
    sweeps: int = PLACEMENT_SWEEPS,
) -> list[float]:
    """Centre coordinate of every item along its layer."""

    def gap(a: int, b: int) -> float:
        spacing = DUMMY_GAP if is_dummy(a) or is_dummy(b) else NODE_GAP
        return (breadth[a] + breadth[b]) / 2 + spacing

    offsets = []
    for layer in layers:
        row = [0.0]
        for a, b in zip(layer, layer[1:], strict=False):
            row.append(row[-1] + gap(a, b))
        offsets.append(row)
    x = [0.0] * len(breadth)
    for layer, row in zip(layers, offsets, strict=True):
        centre = row[-1] / 2 if row else 0.0
        for item, offset in zip(layer, row, strict=True):
            x[item] = offset - centre

    def weight(a: int, b: int) -> float:
        # Long edges (dummy to dummy) are kept straightest, as in Gansner et al.'s layout.
        return (1.0, 2.0, 8.0)[is_dummy(a) + is_dummy(b)]

    order = list(range(len(layers)))
    for sweep in range(sweeps):
        for i in order if sweep % 2 == 0 else reversed(order):
            targets, weights = [], []
            for item in layers[i]:
                # A tiny pull to the current place keeps items without edges where they are.
                total, moment = 1e-3, 1e-3 * x[item]
                for other in up[item] + down[item]:
                    w = weight(item, other)
                    total += w
                    moment += w * x[other]
                targets.append(moment / total)
                weights.append(total)
            for item, value in zip(
                layers[i], _fit_layer(targets, weights, offsets[i]), strict=True
            ):
                x[item] = value
    _straighten_chains(layers, up, down, x, gap)
    return x


def _straighten_chains(
    layers: list[list[int]],
    up: list[list[int]],
    down: list[list[int]],
    x: list[float],
    gap: Callable[[int, int], float],
) -> None:
    """Put every chain (items joined one to one) on one vertical line where its neighbours
    leave room: least squares leaves chains of boxes of different widths slightly bent."""
    left: dict[int, int] = {}
    right: dict[int, int] = {}
    for layer in layers:
        for a, b in zip(layer, layer[1:], strict=False):
            right[a], left[b] = b, a

    def linked(a: int) -> bool:  # a's only edge down goes to an item whose only edge up is a
        return len(down[a]) == 1 and len(up[down[a][0]]) == 1

    chains = []
    for layer in layers:
        for item in layer:
            if len(up[item]) == 1 and linked(up[item][0]):
                continue  # not the top of its chain
            chain = [item]
            while linked(chain[-1]):
                chain.append(down[chain[-1]][0])
            if len(chain) > 1:
                chains.append(chain)
    chains.sort(key=len, reverse=True)
    for chain in chains:
        low, high = -float("inf"), float("inf")
        for item in chain:
            if item in left:
                low = max(low, x[left[item]] + gap(left[item], item))
            if item in right:
                high = min(high, x[right[item]] - gap(item, right[item]))
        if low <= high:
            middle = sorted(x[item] for item in chain)[len(chain) // 2]
            line = min(max(middle, low), high)
            for item in chain:
                x[item] = line
