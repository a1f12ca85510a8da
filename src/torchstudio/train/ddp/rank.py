"""One rank of a data-parallel job: `python -m torchstudio.train.ddp.rank --address A --port P`.

Started by its host's agent (`ddp.agent`) with RANK, WORLD_SIZE, ... in its environment
and a one-time secret on stdin, like torchrun's workers. It connects back to the agent,
receives the job, joins the process group through the rendezvous store and trains with
the same epoch loop as one process, on its shard, under DistributedDataParallel. Rank 0
sends the usual epoch/best/checkpoint/progress messages through the agent; the others send
only `done` or `error`. If the agent goes away the rank ends at once.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
import threading
import traceback
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from torchstudio import tcpcodec
from torchstudio.data.cache import CacheEntry
from torchstudio.model.package import load_built_model, state_bytes
from torchstudio.modules import format_user_error
from torchstudio.train.batches import CachedBatches
from torchstudio.train.ddp.plan import Plan, batch_summary
from torchstudio.train.ddp.shard import ShardedBatches
from torchstudio.train.ddp.sync import RankSync, is_peer_failure
from torchstudio.train.device import select_device, setup_precision
from torchstudio.train.epochs import (
    EpochJob,
    RunState,
    Send,
    restore_checkpoint,
    run_epochs,
    seed_everything,
    unwrap,
)
from torchstudio.train.loop import TrainingError, build_parts
from torchstudio.train.settings import TrainSettings
from torchstudio.worker import HELLO, UserError

AGENT_GONE_EXIT = 70


def join_group(job: dict[str, Any], plan: Plan, device: torch.device) -> None:
    timeout = timedelta(seconds=plan.timeouts)
    store = dist.TCPStore(
        job["store"]["address"], int(job["store"]["port"]), plan.world_size, False, timeout
    )
    dist.init_process_group(
        plan.backend,
        store=store,
        rank=int(job["rank"]),
        world_size=plan.world_size,
        timeout=timeout,
        device_id=device if device.type == "cuda" else None,
    )


def shard_sources(
    folder: str, rank: int, world_size: int, pin: bool
) -> tuple[ShardedBatches, ShardedBatches]:
    entry = CacheEntry.open(folder, verify=False)  # the agent fetched and verified it
    train, valid = (
        ShardedBatches(CachedBatches(entry.split(name), pin), rank, world_size)
        for name in ("train", "valid")
    )
    for name, source in (("training", train), ("validation", valid)):
        if 0 < len(source) < world_size:
            # Every rank must see a sample of each pass for the metrics' reductions.
            raise TrainingError(
                f"the {name} split has {len(source)} sample(s), fewer than the "
                f"{world_size} devices: use fewer devices or more samples"
            )
    return train, valid


def train_rank(
    job: dict[str, Any], send: Send | None, stop: threading.Event
) -> tuple[dict[str, Any], bytes | None]:
    """The rank's whole training; returns rank 0's summary and last weights."""
    request, plan = job["request"], Plan.from_json(job["plan"])
    spec = plan.ranks[int(job["rank"])]
    settings = TrainSettings.from_json(request["settings"])
    torch.set_num_threads(int(job["threads"]))
    device = select_device(spec.device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    precision = setup_precision(settings.precision, device)
    join_group(job, plan, device)
    world = plan.world_size
    generator = seed_everything(settings.seed)  # the same shuffle on every rank
    train, valid = shard_sources(job["folder"], spec.rank, world, device.type == "cuda")
    model = load_built_model(request["built"], device)
    if device.type == "cuda":
        # Batch statistics over the whole global batch, as one process would compute them.
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    steps = max(1, math.ceil(len(train) / (settings.batch_size * world)))
    parts = build_parts(model, settings, steps, device)
    run = RunState()
    if request.get("checkpoint"):
        run = restore_checkpoint(request["checkpoint"], parts, precision.scaler, generator)
    if spec.rank:
        # Random layers (dropout) must not draw the same numbers on every rank.
        torch.manual_seed(settings.seed + 7919 * spec.rank + 104729 * run.epoch)
    parts.model = DistributedDataParallel(
        model, device_ids=[device.index] if device.type == "cuda" else None
    )
    sync = RankSync(device)
    summary_info = batch_summary(settings.batch_size, world)
    extra = {k: v for k, v in summary_info.items() if k != "lr_scaling"}
    epoch_job = EpochJob(parts, train, valid, settings, device, precision, generator, sync, extra)
    summary, _ = run_epochs(epoch_job, run, send, lambda: sync.any(stop.is_set()))
    summary["lr_scaling"] = summary_info["lr_scaling"]
    summary["backend"] = plan.backend
    return summary, state_bytes(unwrap(parts.model)) if send is not None else None


def watch_agent(conn: tcpcodec.Connection, stop: threading.Event) -> None:
    """`cancel` stops the job at the next batch; a closed connection ends the rank now."""
    while True:
        try:
            msg_type, _ = conn.recv()
        except Exception:
            sys.stderr.flush()
            os._exit(AGENT_GONE_EXIT)  # the agent is gone: nobody to train for
        if msg_type == "cancel":
            stop.set()


def error_text(exc: BaseException, rank: int) -> str:
    if isinstance(exc, UserError):
        return str(exc)
    return format_user_error(exc, f"rank {rank}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m torchstudio.train.ddp.rank")
    parser.add_argument("--address", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    sys.stdout = sys.stderr  # user code that prints joins the log
    secret = sys.stdin.readline().strip()
    rank = int(os.environ["RANK"])
    conn = tcpcodec.Connection.connect(args.address, args.port, timeout=30)
    conn.send(HELLO, {"secret": secret, "rank": rank, "pid": os.getpid()})
    _, job = conn.recv()
    stop = threading.Event()
    threading.Thread(target=watch_agent, args=(conn, stop), daemon=True).start()
    code = 0
    try:
        summary, last = train_rank(job, conn.send if rank == 0 else None, stop)
        dist.destroy_process_group()
        conn.send("done", {"summary": summary, "last": last})
    except BaseException as exc:  # noqa: BLE001  (every failure is reported, then the rank ends)
        traceback.print_exc(file=sys.stderr)
        with contextlib.suppress(Exception):  # the agent may be gone already
            conn.send("error", {"text": error_text(exc, rank), "peer": is_peer_failure(exc)})
        code = 1
    sys.stderr.flush()
    # No interpreter shutdown: a broken process group can block it; the agent waits on us.
    os._exit(code)


if __name__ == "__main__":
    main()
