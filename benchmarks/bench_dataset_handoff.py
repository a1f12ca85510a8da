"""Dataset hand-off: the columnar cache against one message per sample.

60,000 training + 10,000 validation samples of (1x28x28 float32, int64 label), in one run:
(a) the hand-off with a cold cache (materialise, then map), (b) with a warm cache,
(c) the baseline: one message per sample, appended to a Python list by the receiver.
Each "trainer" is a separate process; times run from its request to the dataset being
ready in it, and its peak memory is measured after touching every sample, against the
raw tensor bytes. Run: python benchmarks/bench_dataset_handoff.py
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

TRAIN, VALID = 60_000, 10_000
RAW_BYTES = (TRAIN + VALID) * (28 * 28 * 4 + 8)

# A dataset as users write them: a class returning one (image, label) per index.
GENERIC_CODE = f"""
import torch
class Synthetic(torch.utils.data.Dataset):
    def __init__(self, count, seed):
        generator = torch.Generator().manual_seed(seed)
        self.images = torch.rand(count, 1, 28, 28, generator=generator)
        self.labels = torch.randint(0, 10, (count,), generator=generator)
    def __len__(self):
        return len(self.labels)
    def __getitem__(self, index):
        return self.images[index], self.labels[index]
train = Synthetic({TRAIN}, 0)
valid = Synthetic({VALID}, 1)
"""
# The same data as an in-memory TensorDataset, which takes the columnar fast path.
TENSOR_CODE = GENERIC_CODE.replace("train = Synthetic", "_train = Synthetic").replace(
    "valid = Synthetic", "_valid = Synthetic"
) + (
    "train = torch.utils.data.TensorDataset(_train.images, _train.labels)\n"
    "valid = torch.utils.data.TensorDataset(_valid.images, _valid.labels)\n"
)


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def trainer_handoff(link_json: str, cache_dir: str) -> None:
    """Runs in the trainer process: fetch through the hand-off, touch every sample."""
    import numpy as np

    from torchstudio.data.handoff import fetch_dataset

    before = peak_rss_bytes()
    start = time.perf_counter()
    entry = fetch_dataset(json.loads(link_json), cache_dir)
    splits = [entry.split("train"), entry.split("valid")]
    ready = time.perf_counter() - start
    total = sum(float(np.asarray(column).sum()) for s in splits for column in s.columns)
    touched = time.perf_counter() - start
    print(
        json.dumps(
            {"ready": ready, "touched": touched, "peak": peak_rss_bytes() - before, "sum": total}
        )
    )


def baseline_sender(code: str, port: int) -> None:
    """Runs in the baseline's data process: one message per sample."""
    from torchstudio import tcpcodec
    from torchstudio.data.split import DatasetSettings, make_splits
    from torchstudio.datasetload import run_dataset_code

    train, valid = run_dataset_code(code)
    splits = make_splits(train, valid, DatasetSettings())
    conn = tcpcodec.Connection.connect("127.0.0.1", port)
    conn.recv()  # the request
    for split in splits:
        conn.send("count", len(split))
        for index in range(len(split)):
            conn.send("sample", list(split[index]))
    conn.close()


def trainer_baseline(port: int) -> None:
    import socket

    from torchstudio import tcpcodec

    listener = socket.create_server(("127.0.0.1", port))
    sock, _ = listener.accept()
    conn = tcpcodec.Connection(sock)
    before = peak_rss_bytes()
    start = time.perf_counter()
    conn.send("dataset")
    splits = []
    for _ in range(2):
        _, count = conn.recv()
        samples = []
        for _ in range(count):
            _, sample = conn.recv()
            samples.append(tuple(sample))
        splits.append(samples)
    ready = time.perf_counter() - start
    print(json.dumps({"ready": ready, "touched": ready, "peak": peak_rss_bytes() - before}))


def run_python(*args: str, wait: bool = True) -> subprocess.Popen | dict:
    process = subprocess.Popen([sys.executable, __file__, *args], stdout=subprocess.PIPE, text=True)
    if not wait:
        return process
    out, _ = process.communicate()
    return json.loads(out.strip().splitlines()[-1])


async def handoff_runs(code: str, cache_dir: str) -> tuple[dict, dict]:
    from torchstudio.app.runtime.manager import WorkerManager

    async with WorkerManager() as manager:
        loader = await manager.start_worker("datasetload", env={"TORCHSTUDIO_CACHE": cache_dir})
        report = await loader.request("load", {"code": code})
        link = json.dumps(report["link"])
        other = os.path.join(cache_dir, "trainer")
        cold = await asyncio.to_thread(run_python, "trainer", link, other)
        warm = await asyncio.to_thread(run_python, "trainer", link, other)
    return cold, warm


def baseline_run(code: str) -> dict:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    receiver = run_python("baseline-trainer", str(port), wait=False)
    time.sleep(1.0)
    sender = run_python("baseline-sender", code, str(port), wait=False)
    out, _ = receiver.communicate()
    sender.wait()
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    print("generic Dataset: a class returning (image, label) per index; TensorDataset: in memory")
    print(
        f"dataset: {TRAIN} + {VALID} samples of 1x28x28 float32 + int64, {RAW_BYTES / 1e6:.0f} MB raw"
    )
    # Best of two runs of each, to keep noise from this 2-core machine out of the ratios.
    baseline = min((baseline_run(GENERIC_CODE) for _ in range(2)), key=lambda r: r["ready"])
    print(
        f"(c) one message per sample: {baseline['ready']:.2f} s, peak {baseline['peak'] / RAW_BYTES:.2f}x raw"
    )
    for name, code in (("generic Dataset", GENERIC_CODE), ("TensorDataset", TENSOR_CODE)):
        runs = []
        for _ in range(2):
            with tempfile.TemporaryDirectory() as cache_dir:
                runs.append(asyncio.run(handoff_runs(code, cache_dir)))
        cold = min((run[0] for run in runs), key=lambda r: r["ready"])
        warm = min((run[1] for run in runs), key=lambda r: r["ready"])
        print(f"-- {name}")
        for label, run in (("(a) cold cache", cold), ("(b) warm cache", warm)):
            print(
                f"{label}: ready in {run['ready']:.3f} s ({baseline['ready'] / run['ready']:.1f}x faster "
                f"than (c)); every sample touched at {run['touched']:.3f} s; "
                f"peak {run['peak'] / RAW_BYTES:.2f}x raw"
            )
        print(
            f"goals: (a) >= 5x faster than (c): {'met' if baseline['ready'] / cold['ready'] >= 5 else 'NOT met'}; "
            f"(b) < 1 s: {'met' if warm['ready'] < 1 else 'NOT met'}; "
            f"peak <= 1.3x raw: {'met' if max(cold['peak'], warm['peak']) <= 1.3 * RAW_BYTES else 'NOT met'}"
        )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "trainer":
        trainer_handoff(sys.argv[2], sys.argv[3])
    elif len(sys.argv) > 1 and sys.argv[1] == "baseline-sender":
        baseline_sender(sys.argv[2], int(sys.argv[3]))
    elif len(sys.argv) > 1 and sys.argv[1] == "baseline-trainer":
        trainer_baseline(int(sys.argv[2]))
    else:
        main()
