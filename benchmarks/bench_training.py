"""Training speed: the studio (`torchstudio run`) against plain PyTorch loops, one at a time.

The issue's MNIST network (conv 1->32 and 32->64 with 3x3 kernels, max-pool, dense
9216->128->10; 1.2 M parameters) on 60,000 + 10,000 synthetic 1x28x28 samples whose
labels it can learn, batch 64, Adam at 1e-3, the machine's threads:
(a) a plain, well-written eager loop (pre-stacked tensors, batches by slicing a permutation);
(b) the same loop on a TorchScript model (what the original TorchStudio trains);
(c) the studio with compile off and (d) with its default (auto), each through
`torchstudio run` on a project made by `torchstudio new`.
Each gives its first and its second (warm) epoch, training and validation passes, and the
ratio to (a). Then: a torchvision resnet18's per-epoch cost outside its passes (best
weights and checkpoints travelling to the project) and inside them (its warm epochs with a
checkpoint every epoch against one after the last: saving on a thread takes CPU from the
training on the same cores), and the time from `torchstudio run` to the first batch on a
warm cache.

Run: python benchmarks/bench_training.py [--scale 0.1] [--rounds 3]  (--scale shrinks the
dataset; --rounds repeats every measurement and prints each ratio's spread)
"""

from __future__ import annotations

import argparse
import atexit
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import torch
from torch import nn

BATCH = 64
EPOCHS = 2
TORCHSTUDIO = str(Path(sys.executable).with_name("torchstudio"))

NETWORK = '''
import torch
from torch import nn


class MNISTNet(nn.Module):
    """The original TorchStudio's MNIST network."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3)
        self.conv2 = nn.Conv2d(32, 64, 3)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = torch.relu(self.conv1(x))
        x = torch.max_pool2d(torch.relu(self.conv2(x)), 2)
        x = torch.relu(self.fc1(torch.flatten(x, 1)))
        return self.fc2(x)


model = MNISTNet()
'''
RESNET = "import torchvision\nmodel = torchvision.models.resnet18(num_classes=10)\n"


def data_code(train: int, valid: int, shape: tuple[int, ...] = (1, 28, 28)) -> str:
    return f"""
import torch

def _make(count, seed):
    generator = torch.Generator().manual_seed(seed)
    images = torch.rand(count, *{shape}, generator=generator)
    # Labels a small CNN can learn: which tenth of the range the mean of the top half is in.
    top = images[:, :, : images.shape[2] // 2].mean(dim=(1, 2, 3))
    labels = ((top - top.min()) / (top.max() - top.min() + 1e-6) * 10).long().clamp(max=9)
    return torch.utils.data.TensorDataset(images, labels)

train = _make({train}, 0)
valid = _make({valid}, 1)
"""


def load(code: str) -> dict:
    """Run `code` from a file (TorchScript reads the model's source back)."""
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as file:
        file.write(code)
    spec = importlib.util.spec_from_file_location(Path(file.name).stem, file.name)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    atexit.register(os.unlink, file.name)  # read again when the model is scripted
    return vars(module)


# ------------------------------------------------------------------ plain loops


def plain_epochs(code: str, script: bool) -> list[float]:
    """EPOCHS epochs of the careful hand-written loop: seconds each (training + validation)."""
    data = load(code)
    torch.manual_seed(0)
    model = load(NETWORK)["model"]
    net = torch.jit.script(model) if script else model
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    criterion = nn.CrossEntropyLoss()
    images, labels = data["train"].tensors
    valid_images, valid_labels = data["valid"].tensors
    times = []
    for _ in range(EPOCHS):
        started = time.perf_counter()
        net.train()
        total = torch.zeros(())
        order = torch.randperm(len(labels))
        for start in range(0, len(labels), BATCH):
            picked = order[start : start + BATCH]
            optimizer.zero_grad(set_to_none=True)
            loss = criterion(net(images[picked]), labels[picked])
            loss.backward()
            optimizer.step()
            total += loss.detach() * len(picked)
        net.eval()
        correct = torch.zeros((), dtype=torch.long)
        with torch.inference_mode():
            for start in range(0, len(valid_labels), BATCH):
                logits = net(valid_images[start : start + BATCH])
                total += criterion(logits, valid_labels[start : start + BATCH]) * len(logits)
                correct += (logits.argmax(1) == valid_labels[start : start + BATCH]).sum()
        float(total), int(correct)  # read once, as the studio does
        times.append(time.perf_counter() - started)
    return times


# ------------------------------------------------------------------ the studio


def make_project(folder: Path, name: str, data: str, model: str) -> Path:
    (folder / f"{name}_data.py").write_text(data)
    (folder / f"{name}_model.py").write_text(model)
    project = folder / f"{name}.tsproj"
    made = subprocess.run(
        [TORCHSTUDIO, "new", "--dataset", str(folder / f"{name}_data.py"), "--model",
         str(folder / f"{name}_model.py"), str(project)],
        capture_output=True, text=True, env=os.environ, timeout=300,
    )  # fmt: skip
    if made.returncode:
        raise SystemExit(f"torchstudio new failed: {made.stderr}")
    return project


def studio_run(project: Path, *settings: str, stop_after_first_batch: bool = False) -> dict:
    """`torchstudio run` with `settings`: epoch lines (with their arrival), first batch, notes."""
    command = [
        TORCHSTUDIO,
        "run",
        str(project),
        "--set",
        f"batch_size={BATCH}",
        "--set",
        "lr=0.001",
    ]
    for setting in settings:
        command += ["--set", setting]
    started = time.perf_counter()
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ
    )
    result: dict = {"epochs": [], "notes": [], "first_batch": None}

    def read_stderr() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            if "first batch after" in line and result["first_batch"] is None:
                result["first_batch"] = time.perf_counter() - started
                if stop_after_first_batch:
                    process.terminate()
            if "compile: " in line:
                result["notes"].append(line.strip())

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    assert process.stdout is not None
    for line in process.stdout:
        record = json.loads(line)
        if "epoch" in record:
            result["epochs"].append({**record, "arrived": time.perf_counter() - started})
    process.wait()
    reader.join(timeout=10)
    result["wall"] = time.perf_counter() - started
    return result


def outside_cost(epochs: list[dict]) -> tuple[float, float]:
    """Mean seconds between two epoch lines beyond the later epoch's passes, and its share."""
    gaps = [
        later["arrived"] - earlier["arrived"] - later["seconds"]
        for earlier, later in zip(epochs, epochs[1:], strict=False)
    ]
    spans = [
        later["arrived"] - earlier["arrived"]
        for earlier, later in zip(epochs, epochs[1:], strict=False)
    ]
    mean = sum(gaps) / len(gaps)
    return mean, mean / (sum(spans) / len(spans))


def one_round(code: str, folder: Path) -> dict:
    """Every measurement once, one after another: the rows' epoch times, auto's notes, the
    resnet18's cost outside its passes (seconds, share) and the first batch's seconds."""
    rows: dict[str, list[float]] = {}
    rows["(a) plain eager loop"] = plain_epochs(code, script=False)
    rows["(b) plain loop, TorchScript"] = plain_epochs(code, script=True)
    project = folder / "mnist.tsproj"
    if not project.exists():
        project = make_project(folder, "mnist", code, NETWORK)
    off = studio_run(project, f"epochs={EPOCHS}", "compile=off")
    rows["(c) studio, compile off"] = [e["seconds"] for e in off["epochs"]]
    auto = studio_run(project, f"epochs={EPOCHS}")
    rows["(d) studio, default (auto)"] = [e["seconds"] for e in auto["epochs"]]
    start = studio_run(project, "epochs=1", stop_after_first_batch=True)
    resnet = folder / "resnet.tsproj"
    if not resnet.exists():
        resnet = make_project(folder, "resnet", data_code(256, 64, (3, 32, 32)), RESNET)
    resnet_run = studio_run(resnet, "epochs=4", "compile=off")
    # The same with one checkpoint, after the last epoch: what saving costs inside the passes.
    resnet_once = studio_run(resnet, "epochs=4", "compile=off", "checkpoint_every=100")
    return {
        "rows": rows,
        "notes": auto["notes"],
        "outside": outside_cost(resnet_run["epochs"]),
        "inside": (warm_mean(resnet_run["epochs"]), warm_mean(resnet_once["epochs"])),
        "first_batch": start["first_batch"],
    }


def warm_mean(epochs: list[dict]) -> float:
    """Mean seconds of the passes of every epoch after the first."""
    return sum(e["seconds"] for e in epochs[1:]) / len(epochs[1:])


def print_round(result: dict) -> None:
    rows = result["rows"]
    plain = rows["(a) plain eager loop"]
    print(f"{'':32s} {'first epoch':>12s} {'ratio':>6s} {'warm epoch':>11s} {'ratio':>6s}")
    for label, times in rows.items():
        first, warm = times[0], times[-1]
        print(
            f"{label:32s} {first:10.2f} s {first / plain[0]:6.3f} "
            f"{warm:9.2f} s {warm / plain[-1]:6.3f}"
        )
    for note in result["notes"]:
        print(f"    auto: {note}")
    default, script = (
        rows["(d) studio, default (auto)"][-1],
        rows["(b) plain loop, TorchScript"][-1],
    )
    print(
        f"goal: the default <= 0.85x the plain loop: {default / plain[-1]:.3f} "
        f"({'met' if default <= 0.85 * plain[-1] else 'NOT met'}); no slower than TorchScript: "
        f"{default / script:.3f} ({'met' if default <= script else 'NOT met'})"
    )
    cost, share = result["outside"]
    print(
        f"resnet18, 256 + 64 samples 3x32x32: {cost:.3f} s an epoch outside the passes, "
        f"{share * 100:.1f}% of an epoch (goal < 2%: {'met' if share < 0.02 else 'NOT met'})"
    )
    every, once = result["inside"]
    print(
        f"  and inside them: warm epochs {every:.3f} s with a checkpoint every epoch, "
        f"{once:.3f} s with one after the last (+{(every / once - 1) * 100:.0f}%)"
    )
    first_batch = result["first_batch"]
    print(
        f"torchstudio run to the first batch (warm cache): {first_batch:.2f} s "
        f"(goal <= 5 s: {'met' if first_batch is not None and first_batch <= 5 else 'NOT met'})"
    )


def print_spread(results: list[dict]) -> None:
    """Each warm-epoch ratio, the outside share and the first batch as min-max over rounds."""
    print(f"over {len(results)} rounds (min-max):")
    for label in results[0]["rows"]:
        ratios = [r["rows"][label][-1] / r["rows"]["(a) plain eager loop"][-1] for r in results]
        print(f"  {label:32s} warm ratio {min(ratios):.3f}-{max(ratios):.3f}")
    shares = [r["outside"][1] * 100 for r in results]
    firsts = [r["first_batch"] for r in results if r["first_batch"] is not None]
    print(f"  resnet18 outside the passes {min(shares):.1f}-{max(shares):.1f}% of an epoch")
    inside = [(r["inside"][0] / r["inside"][1] - 1) * 100 for r in results]
    print(f"  resnet18 checkpoint every epoch: passes +{min(inside):.0f}-{max(inside):.0f}%")
    if firsts:
        print(f"  first batch {min(firsts):.2f}-{max(firsts):.2f} s after torchstudio run")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="share of the 60,000 + 10,000")
    parser.add_argument("--rounds", type=int, default=1, help="every measurement this often")
    args = parser.parse_args()
    train, valid = int(60_000 * args.scale), int(10_000 * args.scale)
    code = data_code(train, valid)
    threads = torch.get_num_threads()
    print(f"MNIST network, {train} + {valid} samples 1x28x28, batch {BATCH}, {threads} threads")
    results = []
    with tempfile.TemporaryDirectory() as folder:
        os.environ["TORCHSTUDIO_HOME"] = str(Path(folder) / "home")
        for index in range(args.rounds):
            if args.rounds > 1:
                print(f"round {index + 1} (load average {os.getloadavg()[0]:.1f})", flush=True)
            results.append(one_round(code, Path(folder)))
            print_round(results[-1])
    if args.rounds > 1:
        print_spread(results)


if __name__ == "__main__":
    main()
