"""Sweeps on this machine: epochs saved by pruning, and trials per hour with P=2 against P=1.

The demo project (Digits, MNISTClassifier), its learning rate searched log-uniformly over
1e-5..1 (a wide range: some trials are clearly bad and pruning should stop them) with
real trainers, as the app runs them: (a) TRIALS trials of EPOCHS epochs with the median
pruner against the same sweep without it (epochs run, wall time); (b) PARALLEL_TRIALS
trials of 1 epoch, two at a time against one at a time (trials per hour).
Run: python benchmarks/bench_sweep.py [TRIALS EPOCHS]
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

TRIALS, EPOCHS, PARALLEL_TRIALS = 8, 4, 4


async def sweep(folder: Path, trials: int, epochs: int, parallel: int, prune: bool) -> tuple:
    from tests.helpers.studios import demo_studio

    from torchstudio.app.models.overrides import parse_set
    from torchstudio.app.sweeps.space import parse_space

    space = parse_space("[learning_rate]\nlow = 1e-5\nhigh = 1.0\nlog = true\n", "space")
    folder.mkdir()
    async with demo_studio(folder) as studio:
        name = studio.project.model_names()[0]
        await studio.models.build(name)
        started = time.perf_counter()
        result = await studio.sweeps.run(
            name, trials, parallel, space, [parse_set(f"epochs={epochs}")], prune=prune
        )
        seconds = time.perf_counter() - started
        epochs_run = sum(
            len(studio.project.epochs(name, r["number"])) for r in studio.project.runs(name)
        )
    return seconds, epochs_run, result


def main() -> None:
    trials, epochs = (int(a) for a in sys.argv[1:3]) if len(sys.argv) > 2 else (TRIALS, EPOCHS)
    print(f"cores: {os.cpu_count()}; {trials} trials of {epochs} epochs")
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        pruned = asyncio.run(sweep(root / "a", trials, epochs, 1, True))
        plain = asyncio.run(sweep(root / "b", trials, epochs, 1, False))
        print(f"pruning:    {pruned[1]} epochs in {pruned[0]:.1f} s, {pruned[2]['pruned']} pruned, "
              f"best {pruned[2]['best']['value']:.3f}")  # fmt: skip
        print(f"no pruning: {plain[1]} epochs in {plain[0]:.1f} s, best "
              f"{plain[2]['best']['value']:.3f}")  # fmt: skip
        print(f"epochs saved by pruning: {1 - pruned[1] / plain[1]:.0%}")
        one = asyncio.run(sweep(root / "c", PARALLEL_TRIALS, 1, 1, True))
        two = asyncio.run(sweep(root / "d", PARALLEL_TRIALS, 1, 2, True))
        per_hour = [PARALLEL_TRIALS / s * 3600 for s in (one[0], two[0])]
        print(f"P=1: {per_hour[0]:.0f} trials/hour; P=2: {per_hour[1]:.0f} trials/hour "
              f"(x{per_hour[1] / per_hour[0]:.2f})")  # fmt: skip


if __name__ == "__main__":
    main()
