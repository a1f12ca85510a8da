"""Memory over a long training: the app's services and `torchstudio run` stay flat.

An 11 M-parameter model (torchvision resnet18, 3 classes) trains 20 epochs on 64 + 16
generated 3x32x32 samples, on the CPU. Every epoch sends the app its best weights (45 MB)
and a checkpoint (weights and Adam state, 135 MB); before issue 16 the worker manager kept
every message in a queue nobody read, and both processes grew by about that much per epoch.
Measured: the resident memory of (a) this process running the app's services (Studio,
TrainingService: what the app server runs) and (b) a `torchstudio run` process, after each
epoch; printed: the growth per epoch after epoch 2, and its ratio to the bytes each epoch
sends (the baseline: what a process keeping the messages grows by). Goal: under 1 MB/epoch.

Run: python benchmarks/bench_memory.py [--epochs 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from torchstudio.app.catalog import Catalog
from torchstudio.app.dataset.definition import edit_code, new_definition
from torchstudio.app.demo import model_document
from torchstudio.app.store.project import Project

DATA_CODE = """
import torch
def _make(count, seed):
    generator = torch.Generator().manual_seed(seed)
    images = torch.rand(count, 3, 32, 32, generator=generator)
    labels = (images[:, 0].mean(dim=(1, 2)) * 3).long().clamp(max=2)
    return torch.utils.data.TensorDataset(images, labels)
train = _make(64, 0)
valid = _make(16, 1)
"""
MODEL_CODE = "import torchvision\nmodel = torchvision.models.resnet18(num_classes=3)\n"
SETTINGS = {
    "batch_size": 16,
    "loss": ["import torch\nloss = torch.nn.CrossEntropyLoss()\n"],
    "metric": [
        "from torchstudio.metrics import Accuracy\n"
        "metric = Accuracy(task='multiclass', num_classes=3)\n"
    ],
    "optimizer": "import torch\noptimizer = torch.optim.Adam(model.parameters(), lr=1e-3)\n",
    "scheduler": "",
}
MODEL = "resnet18"
MB = 1024 * 1024


def resident(pid: int | str = "self") -> int:
    """Resident memory of a process, in bytes (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def make_project(path: Path, epochs: int) -> None:
    definition = edit_code(new_definition(Catalog()), DATA_CODE)
    project = Project.create(path)
    with project.transaction():
        project.set_document("dataset", definition.to_json())
        project.add_model(MODEL, model_document(MODEL_CODE, None, {**SETTINGS, "epochs": epochs}))
    project.close()


def growth_per_epoch(samples: list[int]) -> float:
    """Least-squares slope of memory against epoch, from epoch 3 on (bytes per epoch)."""
    points = list(enumerate(samples, start=1))[2:]
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    top = sum((x - mean_x) * (y - mean_y) for x, y in points)
    return top / sum((x - mean_x) ** 2 for x, _ in points)


async def in_process(path: Path) -> tuple[list[int], int]:
    """The app's services in this process: memory after each epoch, and bytes sent per epoch."""
    from torchstudio.app.studio import Studio

    studio = Studio()
    await studio.start()
    samples: list[int] = []
    try:
        await studio.open(path)
        assert studio.dataset is not None and studio.training is not None
        assert await studio.dataset.load(), studio.dataset.error
        studio.changes.subscribe(["epochs"], lambda _: None)  # a page's subscription
        training = studio.training

        def on_training(_: object) -> None:
            if training.run(MODEL).epoch > len(samples):
                samples.append(resident())

        studio.changes.subscribe(["training"], on_training)
        training.start(MODEL)
        finished = await studio.training.wait(MODEL)
        assert finished.status == "finished", finished.message
        project = studio.project
        assert project is not None
        sent = sum(len(project.weights(MODEL, kind)[1]) for kind in ("best", "checkpoint"))
    finally:
        await studio.close()
    return samples, sent


def headless(path: Path, epochs: int) -> list[int]:
    """`torchstudio run`: its memory after each epoch line it prints."""
    command = [sys.executable, "-m", "torchstudio.cli", "run", str(path), "--epochs", str(epochs)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=os.environ.copy())
    samples = []
    assert process.stdout is not None
    for line in process.stdout:
        record = json.loads(line)
        if "epoch" in record:
            samples.append(resident(process.pid))
    if process.wait() != 0:
        raise RuntimeError(f"torchstudio run failed with code {process.returncode}")
    return samples


def report(label: str, samples: list[int], sent: int) -> None:
    slope = growth_per_epoch(samples)
    print(
        f"{label:<34} epoch 2 {samples[1] / MB:7.0f} MB  epoch {len(samples)} "
        f"{samples[-1] / MB:7.0f} MB  growth {slope / MB:6.2f} MB/epoch  "
        f"= {slope / sent:.4f} of the {sent / MB:.0f} MB sent per epoch"
    )
    print(f"{'':<34} per epoch (MB): {' '.join(f'{s / MB:.0f}' for s in samples)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as folder:
        os.environ["TORCHSTUDIO_HOME"] = str(Path(folder) / "home")
        os.environ["TORCHSTUDIO_CACHE"] = str(Path(folder) / "cache")
        first, second = Path(folder) / "app.tsproj", Path(folder) / "run.tsproj"
        make_project(first, args.epochs)
        make_project(second, args.epochs)
        app_samples, sent = asyncio.run(in_process(first))
        run_samples = headless(second, args.epochs)
    print(f"resnet18, {args.epochs} epochs, 64 + 16 samples of 3x32x32, CPU")
    report("app services (this process)", app_samples, sent)
    report("torchstudio run", run_samples, sent)
    print("goal: under 1 MB per epoch after epoch 2")


if __name__ == "__main__":
    main()
