"""Model training worker: trains epoch by epoch, keeps the best weights, infers and exports.

Messages (see `torchstudio.worker` for the conventions):
- `train` (a background job; `cancel` stops it) {"built": modelbuild's built model,
  "link": datasetload's data link (or "dataset": {"code", "settings", "workdir"} in the
  fresh-samples mode), "settings": TrainSettings, "checkpoint"?: bytes to resume from}.
  Sends per epoch `epoch` {"epoch", "train_loss", "valid_loss", "train_metric",
  "valid_metric", "lr", "seconds", "samples_per_s"}, `best` {"epoch", "weights",
  "valid_metric", "valid_loss"} when the best result improves, and `checkpoint`
  {"epoch", "data"}; answers with a summary.
  With several devices in `settings.devices` it runs as a data-parallel job (see
  `torchstudio.train.ddp`): one rank process per device; the epoch records and the
  summary then also give "world_size", "batch_size_per_device" and
  "effective_batch_size", and a `ranks` message lists the rank processes first.
- `join` {"built", "link", "settings", "plan", "host", "checkpoint"?}: run the ranks of
  host `host` of an app-started job on several machines (no messages; a summary at the end).
- `devices` {"devices": "all" or a list} -> this machine's device names for them.
- `infer` {"inputs": one sample's input tensors, "weights"?: "best"|"last"} -> outputs.
- `export` {"format", "path", "inputs", "weights"?} -> where and how well it was checked.
"""

from __future__ import annotations

import contextlib
import importlib
import math
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from torchstudio.data.cache import CacheEntry, default_cache_dir
from torchstudio.data.handoff import fetch_dataset
from torchstudio.data.split import DatasetSettings, make_splits
from torchstudio.datasetload import run_dataset_code
from torchstudio.model.package import load_built_model, load_state_bytes
from torchstudio.priority import lower_priority
from torchstudio.train.batches import BatchSource, CachedBatches, LoaderBatches
from torchstudio.train.compiling import make_runner
from torchstudio.train.ddp.agent import HostAgent, open_store
from torchstudio.train.ddp.plan import Plan, local_plan, resolve_devices
from torchstudio.train.device import select_device, setup_precision
from torchstudio.train.epochs import (
    Best,
    EpochJob,
    RunState,
    is_better,
    restore_checkpoint,
    run_epochs,
    seed_everything,
)
from torchstudio.train.export import export_model
from torchstudio.train.loop import TrainingError, as_list, build_parts
from torchstudio.train.settings import TrainSettings
from torchstudio.worker import Handlers, WorkerContext, run_worker

__all__ = ["Best", "ModelTrainWorker", "is_better", "main"]


def fetch_entry(value: dict[str, Any], ctx: WorkerContext) -> CacheEntry:
    if "link" not in value:
        raise TrainingError("no dataset: load the dataset first (the request has no data link)")
    return fetch_dataset(
        value["link"],
        value.get("cache_dir") or default_cache_dir(),
        lambda f, t: ctx.progress(0.0, t),
    )


def load_sources(
    value: dict[str, Any], settings: TrainSettings, device: torch.device, ctx: WorkerContext
) -> tuple[BatchSource, BatchSource]:
    """The training and validation batch sources: the cache hand-off, or fresh samples."""
    pin = device.type == "cuda"
    if settings.data == "fresh":
        dataset = value.get("dataset") or {}
        train, valid = run_dataset_code(dataset["code"], dataset.get("workdir"))
        training, validation = make_splits(
            train, valid, DatasetSettings.from_json(dataset.get("settings"))
        )
        return (
            LoaderBatches(training, settings.loader_workers, pin),
            LoaderBatches(validation, settings.loader_workers, pin),
        )
    entry = fetch_entry(value, ctx)
    return CachedBatches(entry.split("train"), pin), CachedBatches(entry.split("valid"), pin)


def use_channels_last(model: nn.Module, device: torch.device) -> bool:
    """Image convolutions run faster on channels-last tensors: on a GPU tensor cores read
    them directly, on the CPU oneDNN does (the issue's MNIST network: a fifth less CPU time
    a step)."""
    wanted = device.type in ("cuda", "cpu")
    return wanted and any(isinstance(m, nn.Conv2d) for m in model.modules())


def job_plan(settings: TrainSettings, value: dict[str, Any]) -> Plan:
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return local_plan(
        settings.devices, settings.device, settings.dist_timeout, gpus, value.get("plan")
    )


class ModelTrainWorker:
    """The worker's state: the model being trained, its last and best weights."""

    def __init__(self, warming: threading.Thread | None = None) -> None:
        self.warming = warming  # warm_imports' thread, joined before a training starts
        self.model: nn.Module | None = None
        self.built: dict[str, Any] | None = None
        self.best_weights: bytes | None = None
        self.handlers = Handlers()
        self.handlers.add("train", self.train, background=True)
        self.handlers.add("join", self.join, background=True)
        self.handlers.add("devices", self.devices)
        self.handlers.add("infer", self.infer)
        self.handlers.add("export", self.export)

    def train(self, value: dict[str, Any], ctx: WorkerContext) -> dict[str, Any]:
        started = time.perf_counter()
        self._warmed()
        first_batch: list[float] = []

        def on_batch(index: int) -> None:
            if not first_batch:
                first_batch.append(time.perf_counter() - started)
                ctx.progress(0.0, f"first batch after {first_batch[0]:.2f} s")

        try:
            settings = TrainSettings.from_json(value.get("settings"))
            plan = job_plan(settings, value)
            device = select_device(plan.ranks[0].device)
            precision = setup_precision(settings.precision, device)
        except ValueError as exc:  # bad settings, or a device this machine lacks
            raise TrainingError(str(exc)) from exc
        if plan.distributed:
            return self._train_distributed(value, settings, plan, 0, ctx)
        if settings.threads:
            torch.set_num_threads(settings.threads)
        generator = seed_everything(settings.seed)
        ctx.progress(0.0, "getting the dataset")
        train_source, valid_source = load_sources(value, settings, device, ctx)
        model = load_built_model(value["built"], device)
        self.model, self.built, self.best_weights = model, value["built"], None
        steps = max(1, math.ceil(len(train_source) / settings.batch_size))
        parts = build_parts(model, settings, steps, device)
        parts.channels_last = use_channels_last(model, device)
        if parts.channels_last:  # before a checkpoint's state takes the weights' layout
            model.to(memory_format=torch.channels_last)
        run = RunState()
        if value.get("checkpoint"):
            run = restore_checkpoint(value["checkpoint"], parts, precision.scaler, generator)
            self.best_weights = value.get("best_weights")
        expected = steps * max(0, settings.epochs - run.epoch)
        parts.runner, compiled = make_runner(
            model,
            settings.compile,
            device,
            expected,
            lambda text: ctx.progress(0.0, f"compile: {text}"),
        )
        job = EpochJob(parts, train_source, valid_source, settings, device, precision, generator)
        summary, _ = run_epochs(
            job, run, self._keeping_best(ctx), lambda: ctx.cancelled, on_batch, background=True
        )
        return {
            **summary,
            "first_batch_seconds": first_batch[0] if first_batch else None,
            "compile": compiled.to_json(),
        }

    def _warmed(self) -> None:
        """Wait for warm_imports' thread: a training needs its imports anyway, and they are
        done before any process forks (a fork in the middle of an import would leave the
        child that import's lock, held)."""
        if self.warming is not None:
            self.warming.join()

    def _keeping_best(self, ctx: WorkerContext) -> Callable[[str, Any], None]:
        """`ctx.send`, keeping the best weights that go by for `infer` and `export`."""

        def send(msg_type: str, payload: Any) -> None:
            if msg_type == "best":
                self.best_weights = payload["weights"]
            ctx.send(msg_type, payload)

        return send

    def _run_host(
        self, value: dict[str, Any], settings: TrainSettings, plan: Plan, host: int,
        ctx: WorkerContext,
    ) -> dict[str, Any] | None:  # fmt: skip
        """Run this host's ranks of the job; rank 0's `done` when this host has it."""
        if settings.data != "cache":
            raise TrainingError(
                "distributed training reads the dataset cache: set the data mode to 'cache'"
            )
        ctx.progress(0.0, "getting the dataset")
        entry = fetch_entry(value, ctx)
        store = None
        if host == 0:
            store, address = open_store(plan)
        else:
            address = (str(plan.hosts[0].address), plan.port)
        request = {k: value.get(k) for k in ("built", "settings", "checkpoint")}
        job = {
            "request": request,
            "plan": plan.to_json(),
            "folder": entry.folder,
            "store": {"address": address[0], "port": address[1]},
        }
        local = len(plan.ranks_of(host))
        threads = settings.threads or max(1, (os.cpu_count() or 1) // local)
        send = self._keeping_best(ctx) if host == 0 else ctx.send
        agent = HostAgent(plan, host, job, address, threads, send, lambda: ctx.cancelled)
        try:
            return agent.run()
        finally:
            del store  # the rendezvous store closes with the job

    def _train_distributed(
        self, value: dict[str, Any], settings: TrainSettings, plan: Plan, host: int,
        ctx: WorkerContext,
    ) -> dict[str, Any]:  # fmt: skip
        self.model, self.built = None, value["built"]
        self.best_weights = value.get("best_weights") if value.get("checkpoint") else None
        done = self._run_host(value, settings, plan, host, ctx)
        assert done is not None
        model = load_built_model(value["built"], "cpu")
        load_state_bytes(model, done["last"])
        self.model = model
        ranks = [{"rank": r.rank, "device": r.device, "host": plan.hosts[r.host].label}
                 for r in plan.ranks]  # fmt: skip
        return {**done["summary"], "ranks": ranks, "first_batch_seconds": None}

    def join(self, value: dict[str, Any], ctx: WorkerContext) -> dict[str, Any]:
        """Run the ranks of one more host of a job on several machines."""
        try:
            settings = TrainSettings.from_json(value.get("settings"))
            plan = Plan.from_json(value["plan"])
        except (ValueError, KeyError) as exc:
            raise TrainingError(f"cannot join the job: {exc}") from exc
        host = int(value["host"])
        self._warmed()
        self._run_host(value, settings, plan, host, ctx)
        return {"host": host, "ranks": [r.rank for r in plan.ranks_of(host)]}

    def devices(self, value: dict[str, Any], ctx: WorkerContext) -> list[str]:
        """This machine's devices for a `devices` host entry ("all" becomes its GPUs)."""
        gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
        spec = value.get("devices", "all")
        try:
            return list(resolve_devices(spec if spec == "all" else tuple(spec), gpus))
        except ValueError as exc:
            raise TrainingError(str(exc)) from exc

    def _model_with(self, value: dict[str, Any]) -> nn.Module:
        if value.get("built") is not None:
            self.model, self.built = load_built_model(value["built"], "cpu"), value["built"]
        if self.model is None or self.built is None:
            raise TrainingError("no model: train or send a built model first")
        model = load_built_model(self.built, "cpu")
        weights = value.get("weights", "best")
        if isinstance(weights, bytes | bytearray):
            load_state_bytes(model, bytes(weights))
        elif weights == "best" and self.best_weights is not None:
            load_state_bytes(model, self.best_weights)
        else:
            model.load_state_dict({k: v.cpu() for k, v in self.model.state_dict().items()})
        return model.eval()

    def infer(self, value: dict[str, Any], ctx: WorkerContext) -> list[torch.Tensor]:
        model = self._model_with(value)
        inputs = [torch.as_tensor(t).unsqueeze(0) for t in value["inputs"]]
        with torch.no_grad():
            return [o[0].detach().cpu() for o in as_list(model(*inputs))]

    def export(self, value: dict[str, Any], ctx: WorkerContext) -> dict[str, Any]:
        model = self._model_with(value)
        inputs = [torch.as_tensor(t).unsqueeze(0) for t in value["inputs"]]
        assert self.built is not None
        return export_model(model, self.built, value["format"], value["path"], inputs)


# Imported on a thread when a trainer starts, while the app loads the dataset and builds the
# model (a training waits for them): an optimizer's constructor imports torch._dynamo, and
# the studio's metrics import torchmetrics at their first update, which took 1.1 s of the
# first epoch (the fork server cannot preload it: it starts a thread).
WARM_IMPORTS = ("torch._dynamo", "torchmetrics")


def warm_imports() -> threading.Thread:
    """Import WARM_IMPORTS on a thread (a training waits for it first: `_warmed`)."""

    def work() -> None:
        for name in WARM_IMPORTS:
            with contextlib.suppress(Exception):  # a missing package fails where it is used
                importlib.import_module(name)

    thread = threading.Thread(target=work, name="warm imports", daemon=True)
    thread.start()
    return thread


def main() -> None:
    lower_priority()
    raise SystemExit(run_worker(ModelTrainWorker(warm_imports()).handlers, "modeltrain"))


if __name__ == "__main__":
    main()
