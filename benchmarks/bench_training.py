"""Training speed: `modeltrain` through the worker manager against plain PyTorch loops.

Same model (MNISTClassifier), data (60,000 + 10,000 synthetic 1x28x28 samples whose
labels a model can learn), loss, optimizer, batch size 64 and thread count, on the CPU:
(a) one epoch of `modeltrain` driven through the worker manager, (b) a plain,
well-written loop (tensors pre-stacked, batches by slicing a permutation), (c) the same
loop with a DataLoader over a list of per-sample tuples. Each does a training pass and a
validation pass with accuracy. Also: time to the first batch from the Train request,
with a cold and a warm dataset cache. Run: python benchmarks/bench_training.py
"""

from __future__ import annotations

import asyncio
import tempfile
import time

import torch
from torch import nn

THREADS = 2
BATCH = 64
TRAIN, VALID = 60_000, 10_000

DATA_CODE = f"""
import torch
def _make(count, seed):
    generator = torch.Generator().manual_seed(seed)
    images = torch.rand(count, 1, 28, 28, generator=generator)
    # Labels a small CNN can learn: which tenth of the range the mean of the top half falls in.
    top = images[:, :, :14].mean(dim=(1, 2, 3))
    labels = ((top - top.min()) / (top.max() - top.min() + 1e-6) * 10).long().clamp(max=9)
    return torch.utils.data.TensorDataset(images, labels)
train = _make({TRAIN}, 0)
valid = _make({VALID}, 1)
"""
MODEL_CODE = "from torchstudio.models import MNISTClassifier\nmodel = MNISTClassifier()\n"
LOSS_CODE = "from torchstudio.loss import CrossEntropy\nloss = CrossEntropy()\n"
METRIC_CODE = "from torchstudio.metrics import Accuracy\nmetric = Accuracy(task='multiclass', num_classes=10)\n"
OPTIMIZER_CODE = "import torch\noptimizer = torch.optim.Adam(model.parameters(), lr=1e-3)\n"


def make_data() -> tuple[torch.utils.data.TensorDataset, torch.utils.data.TensorDataset]:
    namespace: dict = {}
    exec(DATA_CODE, namespace)
    return namespace["train"], namespace["valid"]


def make_model() -> nn.Module:
    namespace: dict = {}
    exec(MODEL_CODE, namespace)
    torch.manual_seed(0)
    return namespace["model"]


def plain_epoch(model: nn.Module, train_batches, valid_batches) -> float:
    """One training + validation pass, the way a careful user writes it."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    criterion = nn.CrossEntropyLoss()
    started = time.perf_counter()
    model.train()
    total = 0.0
    for images, labels in train_batches():
        optimizer.zero_grad(set_to_none=True)
        loss = criterion(model(images), labels)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(labels)
    model.eval()
    correct = 0
    with torch.no_grad():
        for images, labels in valid_batches():
            logits = model(images)
            total += criterion(logits, labels).item() * len(labels)
            correct += int((logits.argmax(1) == labels).sum())
    return time.perf_counter() - started


def sliced(dataset: torch.utils.data.TensorDataset, shuffle: bool):
    images, labels = dataset.tensors

    def batches():
        order = torch.randperm(len(labels)) if shuffle else torch.arange(len(labels))
        for start in range(0, len(labels), BATCH):
            picked = order[start : start + BATCH]
            yield images[picked], labels[picked]

    return batches


def loaded(dataset: torch.utils.data.TensorDataset, shuffle: bool):
    samples = [(dataset.tensors[0][i], dataset.tensors[1][i]) for i in range(len(dataset))]

    def batches():
        yield from torch.utils.data.DataLoader(samples, batch_size=BATCH, shuffle=shuffle)

    return batches


async def modeltrain_runs(cache_dir: str) -> dict:
    from torchstudio.app.runtime.manager import WorkerManager
    from torchstudio.modelbuild import build

    built = build({"code": MODEL_CODE, "inputs": [torch.zeros(1, 1, 28, 28)], "graph": False})[
        "built"
    ]
    settings = {
        "epochs": 1,
        "batch_size": BATCH,
        "loss": [LOSS_CODE],
        "metric": [METRIC_CODE],
        "optimizer": OPTIMIZER_CODE,
        "threads": THREADS,
    }
    results = {}
    env = {"TORCHSTUDIO_CACHE": cache_dir}
    async with WorkerManager() as manager:
        loader = await manager.start_worker("datasetload", env=env)
        link = (await loader.request("load", {"code": DATA_CODE}))["link"]
        for label in ("cold", "warm"):
            trainer = await manager.start_worker("modeltrain", env=env)
            first_batch = asyncio.Event()
            unsubscribe = manager.subscribe(
                lambda e, t=trainer, first_batch=first_batch: (
                    first_batch.set()
                    if e.worker == t.name
                    and e.kind == "progress"
                    and "first batch" in e.data["text"]
                    else None
                )
            )
            started = time.perf_counter()
            job = asyncio.ensure_future(
                trainer.request("train", {"built": built, "link": link, "settings": settings})
            )
            if label == "warm":
                # The warm run only measures the start: stop it after its first batch.
                await first_batch.wait()
                await trainer.request("cancel")
            summary = await job
            unsubscribe()
            results[label] = {
                "wall": time.perf_counter() - started,
                "epoch": summary["history"][0]["seconds"] if summary["history"] else None,
                "first_batch": summary["first_batch_seconds"],
            }
            await trainer.stop()
    return results


def main() -> None:
    torch.set_num_threads(THREADS)
    train, valid = make_data()
    print(f"MNISTClassifier, {TRAIN} + {VALID} samples 1x28x28, batch {BATCH}, {THREADS} threads")
    # (b) runs before and after (a), and the faster of the two is the baseline: other work on
    # the machine then shows up as a spread between them instead of skewing the ratio.
    before = plain_epoch(make_model(), sliced(train, True), sliced(valid, False))
    with tempfile.TemporaryDirectory() as cache_dir:
        runs = asyncio.run(modeltrain_runs(cache_dir))
    epoch_a = runs["cold"]["epoch"]
    after = plain_epoch(make_model(), sliced(train, True), sliced(valid, False))
    epoch_b = min(before, after)
    print(f"(b) before (a): {before:.2f} s, after (a): {after:.2f} s")
    epoch_c = plain_epoch(make_model(), loaded(train, True), loaded(valid, False))
    print(f"(a) modeltrain epoch:        {epoch_a:7.2f} s")
    print(f"(b) plain loop, sliced:      {epoch_b:7.2f} s")
    print(f"(c) plain loop, DataLoader:  {epoch_c:7.2f} s")
    print(
        f"(a)/(b) = {epoch_a / epoch_b:.3f} (goal <= 1.05: {'met' if epoch_a / epoch_b <= 1.05 else 'NOT met'})"
    )
    print(
        f"(a)/(c) = {epoch_a / epoch_c:.3f} (goal < 1: {'met' if epoch_a < epoch_c else 'NOT met'})"
    )
    for label in ("cold", "warm"):
        run = runs[label]
        print(
            f"time to first batch, {label} cache: {run['first_batch']:.2f} s "
            f"(whole request {run['wall']:.1f} s)"
        )


if __name__ == "__main__":
    main()
