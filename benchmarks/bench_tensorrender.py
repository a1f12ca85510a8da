"""Rendering speed: a 1x28x28 sample and a 3x512x512 image, in process and through the worker.

The in-process time is the renderer's own; the worker time adds the request, the tensor
transfer and the image's return, as the sample browser sees them. Goals: under 30 ms for
28x28 and under 100 ms for 3x512x512. Run: python benchmarks/bench_tensorrender.py
"""

from __future__ import annotations

import asyncio
import time

import torch

from torchstudio.app.runtime.manager import WorkerManager
from torchstudio.renderers import Bitmap

CODE = "from torchstudio.renderers import Bitmap\nrenderer = Bitmap()\n"
CASES = {"1x28x28": (torch.rand(1, 28, 28), 30.0), "3x512x512": (torch.rand(3, 512, 512), 100.0)}
SIZE = (280, 280)
REPEATS = 20


def in_process(tensor: torch.Tensor) -> float:
    renderer = Bitmap()
    best = float("inf")
    for _ in range(REPEATS):
        started = time.perf_counter()
        renderer.render("", tensor.numpy(), SIZE)
        best = min(best, time.perf_counter() - started)
    return best * 1000


async def through_worker() -> dict[str, float]:
    times = {}
    async with WorkerManager() as manager:
        worker = await manager.start_worker("tensorrender")
        for name, (tensor, _) in CASES.items():
            request = {"code": CODE, "tensor": tensor, "size": list(SIZE)}
            await worker.request("render", request)  # the renderer code runs once, then is kept
            samples = []
            for _ in range(REPEATS):
                started = time.perf_counter()
                await worker.request("render", request)
                samples.append(time.perf_counter() - started)
            times[name] = sorted(samples)[len(samples) // 2] * 1000
    return times


def main() -> None:
    worker = asyncio.run(through_worker())
    for name, (tensor, goal) in CASES.items():
        local = in_process(tensor)
        verdict = "met" if worker[name] < goal else "NOT met"
        print(
            f"{name}: renderer {local:.1f} ms (best), through the worker {worker[name]:.1f} ms "
            f"(median) -> {worker[name] / local:.2f}x the renderer alone; goal < {goal:.0f} ms: {verdict}"
        )


if __name__ == "__main__":
    main()
