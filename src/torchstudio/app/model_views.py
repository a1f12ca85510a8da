"""What the Model and Dashboard tabs show of a model: graph SVG, curves, outputs, exports.

Each view asks a worker (`graphdraw`, `metricsplot`, `parametersplot`, the model's
`modeltrain`) and returns plain data; pages and HTTP routes only pass it on.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from torchstudio.app.dataset_definition import tensor_ids
from torchstudio.app.dataset_service import LOADER
from torchstudio.app.model_service import ModelError, ModelService
from torchstudio.app.workers import WorkerError

EXPORT_FORMATS = {
    "safetensors": ".safetensors",
    "pt": ".pt",
    "torchscript-trace": ".torchscript.pt",
    "torchscript-script": ".torchscript.pt",
    "onnx": ".onnx",
}
CURVE_KEYS = ("train_loss", "valid_loss", "train_metric", "valid_metric")


def best_epoch(epochs: list[dict[str, Any]]) -> int | None:
    """The epoch with the best validation metric (else the lowest validation loss)."""

    def score(e: dict[str, Any]) -> float:
        metric, loss = e.get("valid_metric"), e.get("valid_loss")
        if metric is not None and not math.isnan(metric):
            return float(metric)
        return -float(loss) if loss is not None and not math.isnan(loss) else -math.inf

    return max(epochs, key=score)["epoch"] if epochs else None


def device_names(report: dict[str, Any]) -> list[str]:
    """The device names a training can use, from pythoncheck's device report."""
    names = ["cpu"] + [f"cuda:{gpu['index']}" for gpu in report.get("cuda") or []]
    return names + (["mps"] if report.get("mps") else [])


class ModelViews:
    """Views of the project's models, drawn by the plotting workers."""

    def __init__(self, models: ModelService) -> None:
        self.models = models
        self.devices: list[str] = ["cpu"]
        self.devices_checked = False

    async def find_devices(self) -> list[str]:
        """This machine's devices, asked once of `pythoncheck` (it imports torch: slow)."""
        if not self.devices_checked:
            self.devices_checked = True
            try:
                checker = await self.models.pool.get("pythoncheck")
                report = await checker.request("check")
                self.devices = device_names(report.get("devices") or {})
            except WorkerError:  # no check: the CPU is always there
                return self.devices
            finally:
                await self.models.pool.stop("pythoncheck")
        return self.devices

    @property
    def project(self) -> Any:
        return self.models.project

    def graph_levels(self, name: str) -> int:
        graph = self.models.graphs.get(name) or {}
        return int(graph.get("max_depth") or len(graph.get("levels") or {}) or 0)

    async def graph_svg(self, name: str, level: int) -> str:
        graph = self.models.graphs.get(name)
        if not graph:
            raise ModelError("build the model to see its graph")
        levels = graph.get("levels") or {}
        chosen = levels.get(str(level)) or levels.get(str(max(int(k) for k in levels)))
        drawer = await self.models.pool.get("graphdraw")
        return str(await drawer.request("draw", {"graph": chosen}))

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
        }
        return (await plotter.request("plot", request))["series"]

    def summary(self, name: str) -> dict[str, Any]:
        """One dashboard row: settings, best results and training time of a model."""
        document = self.project.model(name)
        epochs = self.project.epochs(name)
        best = best_epoch(epochs)
        record = next((e for e in epochs if e["epoch"] == best), {})
        params = ((document.get("build") or {}).get("parameters") or {}).get("total")
        return {
            "name": name,
            "status": document.get("status", "not built"),
            "parameters": params,
            "device": (document.get("settings") or {}).get("device", "cpu"),
            "epochs": len(epochs),
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
            settings = self.project.model(name).get("settings") or {}
            parameters = {
                k: settings[k] for k in ("batch_size", "epochs", "precision") if k in settings
            }
            parameters["parameters"] = row["parameters"]
            metrics = {k: row[k] for k in ("valid_loss", "valid_metric") if row[k] is not None}
            models.append({"name": name, "parameters": parameters, "metrics": metrics})
        plotter = await self.models.pool.get("parametersplot")
        return await plotter.request("plot", {"models": models, "size": [640, 320]})

    # ------------------------------------------------------------------ trained model

    async def _sample(self, split: str, index: int) -> tuple[list[Any], list[Any]]:
        dataset = self.models.dataset
        if not dataset.loaded:
            raise ModelError("load the dataset first")
        inputs, outputs = tensor_ids(dataset.definition.get("roles") or [])
        loader = await self.models.pool.get(LOADER)
        sample = await loader.request("sample", {"split": split, "index": index})
        return [np.asarray(sample[i]) for i in inputs], [np.asarray(sample[i]) for i in outputs]

    async def _trainer_request(self, name: str, kind: str, value: dict[str, Any]) -> Any:
        if name not in self.models.built:
            await self.models.build(name)
        best = self.project.weights(name, "best")
        if best is None:
            raise ModelError("train the model first: there are no weights yet")
        trainer = await self.models.pool.get("modeltrain", f"modeltrain {name}")
        payload = {"built": self.models.built[name], "weights": best[1], **value}
        return await trainer.request(kind, payload)

    async def predict(self, name: str, index: int) -> dict[str, Any]:
        """A validation sample's outputs with the best weights, next to its targets."""
        inputs, targets = await self._sample("valid", index)
        outputs = await self._trainer_request(name, "infer", {"inputs": inputs})
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
        return {"index": index, "outputs": result}

    async def export(self, name: str, fmt: str, path: str) -> dict[str, Any]:
        """Write the best weights' model to `path` in `fmt`, checked by loading it back."""
        if fmt not in EXPORT_FORMATS:
            raise ModelError(f"unknown export format {fmt}")
        inputs, _ = await self._sample("valid", 0)
        return await self._trainer_request(
            name, "export", {"format": fmt, "path": path, "inputs": inputs}
        )
