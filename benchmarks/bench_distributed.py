"""Data-parallel scaling: samples/s of 1 process against 2 Gloo processes on the CPU.

A compute-heavy model (an MLP with 2048-wide layers: matrix products dominate, data
loading does not) trains through the real path: a `datasetload` worker, a `modeltrain`
worker and, for the distributed runs, its rank processes. Every run uses the same global
batch (128) and reports the samples/s of its second epoch (training and validation
passes; the first epoch warms up).

On 2 cores, a fair comparison gives each configuration the same cores:
  (a) 1 process with 1 thread    (the per-process baseline for scaling efficiency)
  (b) 1 process with 2 threads   (what one process makes of both cores)
  (c) 2 processes with 1 thread each, Gloo all-reduce
Scaling efficiency = (c) / (2 x (a)); speed-up over the best single process = (c) / (b).
With two or more CUDA GPUs the script also compares 1 GPU with all of them (NCCL).
Run: python benchmarks/bench_distributed.py
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from typing import Any

import torch

GLOBAL_BATCH = 128
SAMPLES, VALID, WIDTH = 4096, 256, 2048

DATA_CODE = f"""
import torch
g = torch.Generator().manual_seed(0)
x = torch.randn({SAMPLES + VALID}, 1024, generator=g)
y = (x[:, :10].argmax(1))
train = torch.utils.data.TensorDataset(x[:{SAMPLES}], y[:{SAMPLES}])
valid = torch.utils.data.TensorDataset(x[{SAMPLES}:], y[{SAMPLES}:])
"""
MODEL_CODE = f"""
import torch
from torch import nn
model = nn.Sequential(
    nn.Linear(1024, {WIDTH}), nn.ReLU(), nn.Linear({WIDTH}, {WIDTH}), nn.ReLU(),
    nn.Linear({WIDTH}, {WIDTH}), nn.ReLU(), nn.Linear({WIDTH}, 10),
)
"""
SETTINGS: dict[str, Any] = {
    "epochs": 2,
    "loss": ["from torchstudio.loss import CrossEntropy\nloss = CrossEntropy()\n"],
    "metric": [],
    "optimizer": "import torch\noptimizer = torch.optim.SGD(model.parameters(), lr=0.01)\n",
    "shuffle": True,
}


def built_model() -> dict[str, Any]:
    from torchstudio.modelbuild import build

    inputs = [torch.zeros(1, 1024)]
    return build({"code": MODEL_CODE, "inputs": inputs, "mode": "source", "graph": False})["built"]


async def measure(configs: list[tuple[str, dict[str, Any]]]) -> dict[str, float]:
    """Samples/s of the last epoch of each configuration."""
    from torchstudio.app.runtime.manager import WorkerManager

    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as cache:
        async with WorkerManager() as manager:
            env = {"TORCHSTUDIO_CACHE": cache}
            loader = await manager.start_worker("datasetload", env=env)
            link = (await loader.request("load", {"code": DATA_CODE}))["link"]
            trainer = await manager.start_worker("modeltrain", env=env)
            built = await asyncio.to_thread(built_model)
            for name, overrides in configs:
                settings = {**SETTINGS, **overrides}
                started = time.perf_counter()
                summary = await trainer.request(
                    "train", {"built": built, "link": link, "settings": settings}
                )
                last = summary["history"][-1]
                results[name] = last["samples_per_s"]  # both passes of the epoch
                print(
                    f"  {name:<40} {results[name]:9.0f} samples/s"
                    f"  (epoch {last['seconds']:.2f} s, run {time.perf_counter() - started:.1f} s)",
                    flush=True,
                )
    return results


def main() -> None:
    cores = os.cpu_count() or 1
    print(
        f"MLP 1024-{WIDTH}-{WIDTH}-{WIDTH}-10, {SAMPLES} + {VALID} samples, global batch "
        f"{GLOBAL_BATCH}, torch {torch.__version__}, {cores} CPU cores"
    )
    cpu = asyncio.run(
        measure(
            [
                ("(a) 1 process x 1 thread", {"batch_size": GLOBAL_BATCH, "threads": 1}),
                ("(b) 1 process x 2 threads", {"batch_size": GLOBAL_BATCH, "threads": 2}),
                (
                    "(c) 2 Gloo processes x 1 thread",
                    {"batch_size": GLOBAL_BATCH // 2, "threads": 1, "devices": ["cpu", "cpu"]},
                ),
            ]
        )
    )
    a, b, c = cpu.values()
    print(f"scaling efficiency (c) / (2 x (a)):       {c / (2 * a):6.2f}")
    print(f"speed-up of 2 processes over (a):          {c / a:6.2f}x")
    print(f"speed-up of 2 processes over (b):          {c / b:6.2f}x")
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if gpus >= 2:
        gpu = asyncio.run(
            measure(
                [
                    ("(d) 1 GPU", {"batch_size": GLOBAL_BATCH, "device": "cuda:0"}),
                    (
                        f"(e) {gpus} GPUs, NCCL",
                        {"batch_size": max(1, GLOBAL_BATCH // gpus), "devices": "all"},
                    ),
                ]
            )
        )
        d, e = gpu.values()
        print(f"NCCL scaling efficiency (e) / ({gpus} x (d)): {e / (gpus * d):6.2f}")
    else:
        print(f"NCCL: skipped ({gpus} CUDA GPU here; it needs 2 or more)")


if __name__ == "__main__":
    main()
