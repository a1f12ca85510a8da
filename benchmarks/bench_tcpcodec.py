"""tcpcodec over loopback TCP between two processes, against plain sockets.

Run: python benchmarks/bench_tcpcodec.py

(a) one 256 MiB float32 tensor, (b) 60,000 samples of a 1x28x28 float32 tensor plus an int64
label, (c) the same bytes with plain sendall / recv_into, as the raw limit. Each measurement is
repeated and the best kept; the receiver's peak memory for (a) is its RSS high-water mark.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import json
import multiprocessing as mp
import resource
import socket
import sys
import time
from pathlib import Path

import numpy as np
import torch

from torchstudio import tcpcodec

BIG_BYTES = 256 << 20
SMALL_COUNT = 60_000
SAMPLE_POOL = 1024  # distinct samples cycled through, like indexing a dataset
REPEATS = 5
GOAL_BIG, GOAL_PEAK, GOAL_SMALL = 0.6, 1.3, 0.5


# ---------------------------------------------------------------------------- memory


def _status_kib(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak() -> bool:
    """Reset the RSS high-water mark (Linux), so it measures only what follows."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return _status_kib("VmHWM") is not None


def _peak_kib() -> int:
    hwm = _status_kib("VmHWM")
    if hwm is not None:
        return hwm
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak  # bytes on macOS, KiB elsewhere


def _release_free_memory() -> None:
    """Give freed heap memory back to the OS, so the next baseline is not inflated."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).malloc_trim(0)  # glibc only


def _rss_kib() -> int:
    rss = _status_kib("VmRSS")
    return rss if rss is not None else _peak_kib()


# ---------------------------------------------------------------------------- receiver


def _recv_exactly(sock: socket.socket, view: memoryview) -> None:
    got = sock.recv_into(view)
    while got < len(view):
        n = sock.recv_into(view[got:])
        if not n:
            raise ConnectionError("sender went away")
        got += n


def receiver(ctrl, port_out) -> None:
    """Child process: accepts one TCP connection, then runs the commands sent on ``ctrl``."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        port_out.send_bytes(str(server.getsockname()[1]).encode())
        sock, _ = server.accept()
    conn = tcpcodec.Connection(sock)  # also sets TCP_NODELAY, used by the raw runs too
    while True:
        cmd = json.loads(ctrl.recv_bytes())
        kind = cmd["kind"]
        if kind == "stop":
            break
        result: dict = {}
        _release_free_memory()
        if kind == "codec_big":
            exact = _reset_peak()
            base = _rss_kib()
            ctrl.send_bytes(b"ready")
            _, tensor = conn.recv()
            assert tensor.numel() * 4 == cmd["nbytes"]
            result = {"peak": (_peak_kib() - base) * 1024, "exact_peak": exact}
            del tensor
        elif kind == "raw_big":
            buf = bytearray(cmd["nbytes"])  # preallocated: the raw limit is just the copy
            ctrl.send_bytes(b"ready")
            _recv_exactly(sock, memoryview(buf))
            del buf
        elif kind == "raw_big_fresh":
            ctrl.send_bytes(b"ready")
            buf = np.empty(cmd["nbytes"], np.uint8)  # uninitialized: pages fault in on receive
            _recv_exactly(sock, memoryview(buf))
            del buf
        elif kind == "codec_small":
            ctrl.send_bytes(b"ready")
            for _ in range(cmd["count"]):
                _, (image, label) = conn.recv()
            assert image.shape == (1, 28, 28) and label.dtype == torch.int64
        elif kind == "raw_small":
            view = memoryview(bytearray(cmd["size"]))
            ctrl.send_bytes(b"ready")
            for _ in range(cmd["count"]):
                _recv_exactly(sock, view)
        ctrl.send_bytes(json.dumps(result).encode())
    conn.close()


# ---------------------------------------------------------------------------- sender


def _timed(ctrl, cmd: dict, send) -> tuple[float, dict]:
    """Tell the receiver what comes, send it, and time until the receiver has it all."""
    ctrl.send_bytes(json.dumps(cmd).encode())
    assert ctrl.recv_bytes() == b"ready"
    start = time.perf_counter()
    send()
    result = json.loads(ctrl.recv_bytes())
    return time.perf_counter() - start, result


def main() -> None:
    ctx = mp.get_context("spawn")
    ctrl, child_ctrl = ctx.Pipe()
    port_in, port_out = ctx.Pipe(duplex=False)
    child = ctx.Process(target=receiver, args=(child_ctrl, port_out), daemon=True)
    child.start()
    port = int(port_in.recv_bytes())
    conn = tcpcodec.Connection.connect("127.0.0.1", port, timeout=30)
    sock = conn.sock

    big = torch.rand(BIG_BYTES // 4)
    big_raw = memoryview(big.numpy()).cast("B")
    images = torch.rand(SAMPLE_POOL, 1, 28, 28)
    labels = torch.randint(0, 10, (SAMPLE_POOL,))
    # indexed once up front: the dataset's own cost is not what is measured here
    samples = [[images[j], labels[j]] for j in range(SAMPLE_POOL)]
    payload = b"".join(bytes(memoryview(b).cast("B")) for b in tcpcodec.encode_value(samples[0]))
    sample_frame = tcpcodec.pack_frame_header("sample", len(payload)) + payload

    def codec_big() -> None:
        conn.send("tensor", big)

    def raw_big() -> None:
        sock.sendall(big_raw)

    def codec_small() -> None:
        send = conn.send
        for i in range(SMALL_COUNT):
            send("sample", samples[i % SAMPLE_POOL])

    def raw_small() -> None:
        sendall = sock.sendall
        for _ in range(SMALL_COUNT):
            sendall(sample_frame)

    runs = {
        "codec_big": (codec_big, {"nbytes": BIG_BYTES}),
        "raw_big": (raw_big, {"nbytes": BIG_BYTES}),
        "raw_big_fresh": (raw_big, {"nbytes": BIG_BYTES}),
        "codec_small": (codec_small, {"count": SMALL_COUNT}),
        "raw_small": (raw_small, {"count": SMALL_COUNT, "size": len(sample_frame)}),
    }
    best: dict[str, float] = {}
    peaks: list[float] = []
    exact_peak = True
    for _ in range(REPEATS):
        for kind, (send, args) in runs.items():
            elapsed, result = _timed(ctrl, {"kind": kind, **args}, send)
            best[kind] = min(best.get(kind, float("inf")), elapsed)
            if "peak" in result:
                peaks.append(result["peak"] / BIG_BYTES)
                exact_peak &= result["exact_peak"]
    ctrl.send_bytes(json.dumps({"kind": "stop"}).encode())
    child.join(30)
    conn.close()

    big_codec = BIG_BYTES / best["codec_big"] / 1e6
    big_raw_rate = BIG_BYTES / best["raw_big"] / 1e6
    small_codec = SMALL_COUNT / best["codec_small"]
    small_raw = SMALL_COUNT / best["raw_small"]
    mb = len(sample_frame) / 1e6
    ratio_big, ratio_small, peak = big_codec / big_raw_rate, small_codec / small_raw, max(peaks)

    def verdict(ok: bool) -> str:
        return "met" if ok else "NOT met"

    print(f"best of {REPEATS} runs, loopback TCP, two processes")
    print(f"(a) one {BIG_BYTES >> 20} MiB float32 tensor")
    print(f"    codec {big_codec:8.0f} MB/s   raw {big_raw_rate:8.0f} MB/s   ratio {ratio_big:.2f}")
    fresh = BIG_BYTES / best["raw_big_fresh"] / 1e6
    print(f"    raw into a newly allocated buffer {fresh:8.0f} MB/s (first-touch page faults)")
    how = "VmHWM after reset" if exact_peak else "ru_maxrss, approximate"
    print(f"    receiver peak {peak:.2f}x tensor bytes ({how}, worst run)")
    print(
        f"(b) {SMALL_COUNT} samples of 1x28x28 float32 + int64 label, {len(sample_frame)} B/frame"
    )
    print(
        f"    codec {small_codec:8.0f} msg/s ({small_codec * mb:.0f} MB/s)   "
        f"raw {small_raw:8.0f} msg/s ({small_raw * mb:.0f} MB/s)   ratio {ratio_small:.2f}"
    )
    print(f"goal (a) throughput >= {GOAL_BIG} of raw: {verdict(ratio_big >= GOAL_BIG)}")
    print(f"goal (a) receiver peak <= {GOAL_PEAK}x tensor bytes: {verdict(peak <= GOAL_PEAK)}")
    print(f"goal (b) throughput >= {GOAL_SMALL} of raw: {verdict(ratio_small >= GOAL_SMALL)}")


if __name__ == "__main__":
    main()
