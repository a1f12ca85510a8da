"""What the Model and Dashboard tabs show of a model: graph SVG, curves, outputs, exports.

Each view asks a worker (`graphdraw`, `metricsplot`, `parametersplot`, a local
`modeltrain` for outputs and exports) and returns plain data; pages and HTTP routes only
pass it on.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
from collections import Counter
from collections.abc import Collection
from typing import Any

import numpy as np

from torchstudio.app.dataset.definition import tensor_ids
from torchstudio.app.fingerprint import short
from torchstudio.app.models.runs import Run, key_settings
from torchstudio.app.models.service import ModelError, ModelService
from torchstudio.app.runtime.manager import WorkerError
from torchstudio.graph.view import graph_view
from torchstudio.remote.errors import RemoteError
from torchstudio.train.ddp.plan import PlanError, parse_devices

EXPORT_FORMATS = {
    "safetensors": ".safetensors",
    "pt": ".pt",
    "torchscript-trace": ".torchscript.pt",
    "torchscript-script": ".torchscript.pt",
    "onnx": ".onnx",
}
# The local `modeltrain` that draws outputs and writes exports (not named "modeltrain ...":
# those are the models' trainers).
OUTPUT_WORKER = "model outputs"
CURVE_KEYS = ("train_loss", "valid_loss", "train_metric", "valid_metric")


def best_epoch(epochs: list[dict[str, Any]]) -> int | None:
    """The epoch with the best validation metric (else the lowest validation loss)."""

    def score(e: dict[str, Any]) -> float:
        metric, loss = e.get("valid_metric"), e.get("valid_loss")
        if metric is not None and not math.isnan(metric):
            return float(metric)
        return -float(loss) if loss is not None and not math.isnan(loss) else -math.inf

    return max(epochs, key=score)["epoch"] if epochs else None


def optimizer_parameters(code: str) -> dict[str, Any]:
    """The optimizer's class and learning rate, read from its code, for the parameters plot."""
    found: dict[str, Any] = {}
    made = re.search(r"^\s*optimizer\s*=\s*([\w.]+)\(", code, re.MULTILINE)
    if made:
        found["optimizer"] = made.group(1).rsplit(".", 1)[-1]
    rate = re.search(r"\blr\s*=\s*([0-9.eE+-]+)", code)
    if rate:
        with contextlib.suppress(ValueError):
            found["lr"] = float(rate.group(1))
    return found


def epoch_axis(option: dict[str, Any], last: int) -> dict[str, Any]:
    """A curves chart with whole epochs on x from 1, and the best epoch's line marked."""
    axis = {**option.get("xAxis", {}), "min": 1, "max": max(2, int(last)), "minInterval": 1}
    series = []
    for entry in option.get("series") or []:
        coords = [point["coord"] for point in (entry.get("markPoint") or {}).get("data") or []]
        if coords:  # metricsplot marks the best epoch's point: also draw its epoch's line
            line = {"data": [{"xAxis": coords[0][0]}], "symbol": "none", "silent": True}
            entry = {**entry, "markLine": {**line, "label": {"formatter": "best"}}}
        series.append(entry)
    return {**option, "xAxis": axis, "series": series}


def with_log_axis(option: dict[str, Any]) -> dict[str, Any]:
    """The chart on a log y axis; values a log axis cannot show (<= 0) become gaps."""
    series = [
        {
            **entry,
            "data": [
                [x, y if isinstance(y, int | float) and y > 0 else None]
                for x, y in entry.get("data") or []
            ],
        }
        for entry in option.get("series") or []
    ]
    return {**option, "yAxis": {**option.get("yAxis", {}), "type": "log"}, "series": series}


def epochs_csv(epochs: list[dict[str, Any]]) -> str:
    """A run's epochs as CSV: epoch, losses, metrics, learning rate and seconds."""
    columns = ["epoch", *CURVE_KEYS, "lr", "seconds"]
    lines = [",".join(columns)]
    for row in epochs:
        values = [row.get(column) for column in columns]
        lines.append(",".join("" if value is None else repr(value) for value in values))
    return "\n".join(lines) + "\n"


def headline(epochs: list[dict[str, Any]]) -> str:
    """The run's best result in one line: "best valid metric 0.9721 at epoch 4"."""
    best = best_epoch(epochs)
    record = next((e for e in epochs if e["epoch"] == best), None)
    if record is None:
        return "no epochs yet"
    for key in ("valid_metric", "valid_loss", "train_metric", "train_loss"):
        value = record.get(key)
        if value is not None and math.isfinite(value):
            return f"best {key.replace('_', ' ')} {value:.4g} at epoch {best}"
    return f"no finite result at epoch {best}"


def leader(rows: list[dict[str, Any]]) -> str:
    """The Dashboard's headline: the run with the best validation metric (else loss)."""
    scored = []
    for row in rows:
        metric, loss = row.get("valid_metric"), row.get("valid_loss")
        if metric is not None and math.isfinite(metric):
            scored.append(((1, metric), "valid metric", metric, row))
        elif loss is not None and math.isfinite(loss):
            scored.append(((0, -loss), "valid loss", loss, row))
    if not scored:
        return "no epochs yet"
    _, what, value, row = max(scored, key=lambda item: item[0])
    run = f" run {row['run']}" if row.get("run") else ""
    return f"best: {row['name']}{run} · {what} {value:.4g} at epoch {row.get('best_epoch')}"


def device_names(report: dict[str, Any]) -> list[str]:
    """The device names a training can use, from pythoncheck's device report."""
    names = ["cpu"] + [f"cuda:{gpu['index']}" for gpu in report.get("cuda") or []]
    return names + (["mps"] if report.get("mps") else [])


def devices_text(devices: str | tuple[str, ...], gpus: int | None = None) -> str:
    """One machine's devices: "cuda:0, cuda:1", "2 × cpu", "all GPUs (4)"."""
    if devices == "all":
        return f"all GPUs ({gpus})" if gpus is not None else "all GPUs"
    counts = Counter(devices)
    return ", ".join(d if n == 1 else f"{n} × {d}" for d, n in counts.items())


def placement_text(settings: dict[str, Any], gpus_of: dict[str | None, int]) -> str:
    """Where a model trains: each machine ("this machine" or the server) and its devices.

    `gpus_of` gives the GPUs of the machines checked so far (None: this machine), for "all".
    """
    server = settings.get("server")
    try:
        hosts = parse_devices(settings.get("devices"), settings.get("device") or "cpu")
    except PlanError as exc:  # a setting edited by hand in the project file
        return f"invalid devices ({exc})"
    shown = []
    for index, host in enumerate(hosts):
        machine = server if index == 0 else host.server  # host 0 is the model's own machine
        gpus = gpus_of.get(machine)
        shown.append(f"{machine or 'this machine'}: {devices_text(host.devices, gpus)}")
    return " + ".join(shown)


class ModelViews:
    """Views of the project's models, drawn by the plotting workers."""

    def __init__(self, models: ModelService) -> None:
        self.models = models
        self.devices: list[str] = ["cpu"]  # this machine's
        self.devices_checked = False
        # Each machine's devices (None: this one), asked once: pythoncheck imports torch.
        self.server_devices: dict[str | None, list[str]] = {}
        self.device_errors: dict[str | None, str] = {}
        self._device_locks: dict[str | None, asyncio.Lock] = {}

    async def find_devices(self, server: str | None = None) -> list[str]:
        """The devices of `server` (None: this machine), from its `pythoncheck`, cached."""
        lock = self._device_locks.setdefault(server, asyncio.Lock())
        async with lock:  # two pickers opening at once ask once
            if server not in self.server_devices:
                self.server_devices[server] = await self._check_devices(server)
            if server is None:
                self.devices, self.devices_checked = self.server_devices[None], True
            self.project.changes.emit("devices")
            return self.server_devices[server]

    async def _check_devices(self, server: str | None) -> list[str]:
        try:
            if server is None:
                checker = await self.models.pool.get("pythoncheck")
                try:
                    report = await checker.request("check")
                finally:
                    await self.models.pool.stop("pythoncheck")
            elif self.models.servers is None:
                raise RemoteError("no remote servers in this app")
            else:
                # The Servers dialog's last check, else a check now.
                report = self.models.servers.reports.get(server)
                if report is None:
                    report = await self.models.servers.python_check(server)
        except (WorkerError, RemoteError) as exc:  # no check: the CPU is always there
            self.device_errors[server] = str(exc)
            return ["cpu"]
        self.device_errors.pop(server, None)
        return device_names(report.get("devices") or {})

    def gpu_counts(self) -> dict[str | None, int]:
        """The CUDA GPUs of each machine checked so far (None: this machine)."""
        return {
            server: sum(d.startswith("cuda") for d in devices)
            for server, devices in self.server_devices.items()
        }

    @property
    def project(self) -> Any:
        return self.models.project

    def graph_levels(self, name: str) -> int:
        graph = self.models.graphs.get(name) or {}
        return int(graph.get("max_depth") or len(graph.get("levels") or {}) or 0)

    async def graph_svg(self, name: str, level: int, opened: Collection[str] = ()) -> str:
        """The graph at `level`, with the module calls in `opened` opened in place."""
        graph = self.models.graphs.get(name)
        if not graph or not graph.get("levels"):
            raise ModelError("build the model to see its graph")
        nodes = graph_view(graph, level, opened)
        drawer = await self.models.pool.get("graphdraw")
        return str(await drawer.request("draw", {"graph": {"nodes": nodes}}))

    def curve_entry(self, name: str) -> dict[str, Any]:
        epochs = [
            {"epoch": e["epoch"], **{k: e.get(k) for k in CURVE_KEYS}}
            for e in self.project.epochs(name)
        ]
        return {"name": name, "epochs": epochs, "best_epoch": best_epoch(epochs)}

    async def curves(self, names: list[str], which: str = "both") -> dict[str, Any]:
        """ECharts options for the models' loss and metric curves (metricsplot's series)."""
        plotter = await self.models.pool.get("metricsplot")
        request = {
            "models": [self.curve_entry(n) for n in names],
            "size": [320, 200],
            "which": which,
            "image": False,  # the page draws the series with ECharts
        }
        series = (await plotter.request("plot", request))["series"]
        last = max((e["epoch"] for m in request["models"] for e in m["epochs"]), default=1)
        return {key: epoch_axis(option, last) for key, option in series.items()}

    def summary(self, name: str, run: Run | None = None) -> dict[str, Any]:
        """One dashboard row: a model's run (None: its latest) with its dataset, settings,
        best results and training time."""
        document = self.project.model(name)
        run = run or self.models.latest_run(name)
        epochs = self.project.epochs(name, run.number) if run else []
        best = best_epoch(epochs)
        record = next((e for e in epochs if e["epoch"] == best), {})
        params = ((document.get("build") or {}).get("parameters") or {}).get("total")
        loaded = self.models.dataset.fingerprint()
        if run is None:
            dataset = ""
        elif not run.dataset:
            dataset = "unknown"
        else:  # the short fingerprint, and whether it is the dataset in use
            dataset = short(run.dataset) + (" (loaded)" if run.dataset == loaded else " (other)")
        latest = run is None or run.number == len(self.project.runs(name))
        return {
            "key": f"{name} · {run.number}" if run else name,
            "latest": latest,
            "name": name,
            "run": run.number if run else None,
            "run_name": (run.name or "") if run else "",  # `torchstudio run --run-name`
            # The latest run shows the model's status (built, training...); older ones their own.
            "status": document.get("status", "not built") if latest else run.status,
            "dataset": dataset,
            "settings": key_settings(run.settings, run.model_values) if run else "",
            "stale": (self.models.run_stale(run) or "") if run else "",
            "parameters": params,
            "device": placement_text(self.models.effective(name).values, self.gpu_counts()),
            "epochs": len(epochs),
            "best_epoch": best,
            "train_loss": record.get("train_loss"),
            "valid_loss": record.get("valid_loss"),
            "train_metric": record.get("train_metric"),
            "valid_metric": record.get("valid_metric"),
            "seconds": round(sum(float(e.get("seconds") or 0) for e in epochs), 1),
        }

    async def parameters_plot(self, names: list[str]) -> dict[str, Any]:
        """parametersplot's axes for the models: hyperparameters against best results."""
        models = []
        for name in names:
            row = self.summary(name)
            # What the latest run trained with; a model not trained yet: what would apply.
            run = self.models.latest_run(name)
            used = run.settings if run is not None else self.models.effective(name).values
            parameters = {k: used[k] for k in ("batch_size", "epochs", "precision") if k in used}
            optimizer = optimizer_parameters(str(used.get("optimizer") or ""))
            if "optimizer" in optimizer and "lr" not in optimizer:
                # Not written in the code: the optimizer's own default, not a missing value.
                optimizer.update(self._default_lr(optimizer["optimizer"]))
            parameters.update(optimizer)
            parameters["parameters"] = row["parameters"]
            metrics = {k: row[k] for k in ("valid_loss", "valid_metric") if row[k] is not None}
            models.append({"name": name, "parameters": parameters, "metrics": metrics})
        plotter = await self.models.pool.get("parametersplot")
        request = {"models": models, "size": [640, 320], "image": False}
        return await plotter.request("plot", request)

    def _default_lr(self, optimizer: str) -> dict[str, float]:
        info = self.models.dataset.catalog.find_name("optim", optimizer)
        parameter = info.parameter("lr") if info is not None else None
        try:
            return {"lr": float(parameter.default)} if parameter and parameter.default else {}
        except ValueError:  # a default that is an expression, not a number
            return {}

    # ------------------------------------------------------------------ trained model

    async def _sample(self, split: str, index: int) -> tuple[list[Any], list[Any]]:
        dataset = self.models.dataset
        if not dataset.loaded:
            raise ModelError("load the dataset first")
        inputs, outputs = tensor_ids(dataset.definition.roles)
        loader = await self.models.dataset.loader()
        sample = await loader.request("sample", {"split": split, "index": index})
        return [np.asarray(sample[i]) for i in inputs], [np.asarray(sample[i]) for i in outputs]

    async def _output_request(self, name: str, kind: str, value: dict[str, Any]) -> tuple[Run, Any]:
        """`infer` or `export` on this machine's output worker, with the best weights of the
        model's newest run that has them (refused when that run is stale); (run, answer).

        Never on the model's trainer: that one may run on a remote server, whose disk is not
        where the user saves, and it is busy training. The weights and the built model come
        with each request, so one worker serves every model.
        """
        run, weights = self.models.weights_run(name)  # refused when trained on other data
        if not self.models.is_built(name):
            await self.models.build(name)
        worker = await self.models.pool.get("modeltrain", OUTPUT_WORKER)
        payload = {"built": self.models.built[name], "weights": weights, **value}
        return run, await worker.request(kind, payload)

    async def predict(self, name: str, index: int) -> dict[str, Any]:
        """A validation sample's outputs with the best weights, next to its targets."""
        inputs, targets = await self._sample("valid", index)
        run, outputs = await self._output_request(name, "infer", {"inputs": inputs})
        classes = (self.models.dataset.report or {}).get("classes") or []
        result = []
        for output, target in zip(outputs, targets, strict=False):
            values = np.asarray(output, dtype=np.float64).reshape(-1)
            entry: dict[str, Any] = {"shape": list(np.shape(output))}
            if classes and values.size == len(classes):
                shifted = np.exp(values - values.max())
                probabilities = shifted / shifted.sum()
                top = int(values.argmax())
                truth = np.asarray(target).reshape(-1)
                true = int(truth.argmax() if truth.size > 1 else truth[0])
                entry.update(
                    predicted=str(classes[top]),
                    confidence=float(probabilities[top]),
                    target=str(classes[true]) if 0 <= true < len(classes) else str(true),
                )
            else:
                entry.update(predicted=str(values[:8].round(4).tolist()), target="")
            result.append(entry)
        # The tensors themselves, for the output view's images (rendered like the Dataset tab's).
        tensors = {
            "inputs": inputs,
            "outputs": [np.asarray(o) for o in outputs],
            "targets": targets,
        }
        return {"index": index, "run": run.number, "outputs": result, "tensors": tensors}

    async def export(self, name: str, fmt: str, path: str) -> dict[str, Any]:
        """Write the best weights' model (its `run` in the result) to `path` on this machine, checked by loading it back."""
        if fmt not in EXPORT_FORMATS:
            raise ModelError(f"unknown export format {fmt}")
        inputs, _ = await self._sample("valid", 0)
        run, result = await self._output_request(
            name, "export", {"format": fmt, "path": path, "inputs": inputs}
        )
        return {**result, "run": run.number}
