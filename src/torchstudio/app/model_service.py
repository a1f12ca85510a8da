"""Building and training a project's models through `modelbuild` and `modeltrain`.

Every epoch, the best weights and the last checkpoint go to the project as they arrive.
The built model stays in memory (building again is quick and the project keeps the code).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from torchstudio.app.dataset_definition import tensor_ids
from torchstudio.app.dataset_service import LOADER, DatasetService
from torchstudio.app.project import Project
from torchstudio.app.worker_pool import WorkerPool
from torchstudio.app.workers import WorkerEvent

EpochCallback = Callable[[dict[str, Any]], None]


def with_class_weights(code: str, weights: list[float]) -> str:
    """A loss chunk that also sets the analysis' class weights, when the loss takes them.

    Losses keep their weights in a `weight` buffer (torch's and ours alike), so setting
    it works whatever module or parameters the user chose.
    """
    values = ", ".join(f"{float(w):.6g}" for w in weights)
    return (
        f"{code.rstrip()}\n\n# Class weights from the dataset analysis (Class weights: on)\n"
        "import torch as _torch\n\n"
        'if hasattr(loss, "weight"):\n'
        f"    loss.weight = _torch.tensor([{values}], dtype=_torch.float32)\n"
    )


class ModelError(Exception):
    """A model cannot be built or trained; the message is for the user."""


def training_settings(
    document: dict[str, Any], build: dict[str, Any], roles: list[str], **overrides: Any
) -> dict[str, Any]:
    """The trainer's settings: the model's own, else `modelbuild`'s suggestions."""
    suggestions = build.get("suggestions") or {}
    hyper = suggestions.get("hyperparameters") or {}
    chosen = {k: v for k, v in (document.get("settings") or {}).items() if v is not None}
    inputs, outputs = tensor_ids(roles)
    settings = {
        "device": chosen.get("device", "cpu"),
        "epochs": chosen.get("epochs", hyper.get("epochs", 10)),
        "batch_size": chosen.get("batch_size", hyper.get("batch_size", 64)),
        "loss": chosen.get("loss") or [s["code"] for s in suggestions.get("loss", [])],
        "metric": chosen.get("metric") or [s["code"] for s in suggestions.get("metric", [])],
        "optimizer": chosen.get("optimizer") or (suggestions.get("optimizer") or {}).get("code"),
        "scheduler": chosen.get("scheduler", (suggestions.get("scheduler") or {}).get("code", "")),
        "input_ids": inputs,
        "output_ids": outputs,
    }
    for key in ("precision", "shuffle", "early_stop", "seed"):
        if key in chosen:
            settings[key] = chosen[key]
    settings.update({k: v for k, v in overrides.items() if v is not None})
    return {k: v for k, v in settings.items() if v is not None}


class ModelService:
    """Builds and trains the project's models with the loaded dataset."""

    def __init__(self, project: Project, pool: WorkerPool, dataset: DatasetService) -> None:
        self.project = project
        self.pool = pool
        self.dataset = dataset
        self.built: dict[str, dict[str, Any]] = {}
        self.graphs: dict[str, dict[str, Any] | None] = {}

    async def build(self, name: str, graph: bool = False) -> dict[str, Any]:
        """Run `modelbuild` on the model's code with one training sample; returns the report."""
        if not self.dataset.loaded:
            raise ModelError("load the dataset before building a model")
        document = self.project.model(name)
        inputs, outputs = tensor_ids(self.dataset.definition.get("roles") or [])
        loader = await self.pool.get(LOADER)
        sample = await loader.request("sample", {"split": "train", "index": 0})
        report = self.dataset.report or {}
        builder = await self.pool.get("modelbuild", f"modelbuild {name}")
        result = await builder.request(
            "build",
            {
                "code": document["code"],
                "inputs": [np.asarray(sample[i])[None] for i in inputs],
                "outputs": [np.asarray(sample[i])[None] for i in outputs],
                "labels": report.get("classes") or [],
                "workdir": document.get("workdir"),
                "train_count": report.get("train_count"),
                "graph": graph,
            },
        )
        self.built[name] = result["built"]
        if graph:
            self.graphs[name] = result.get("graph")
        summary = {k: result[k] for k in ("parameters", "outputs", "warnings", "suggestions")}
        self.project.update_model(name, build=summary, status="built")
        return result

    async def train(
        self,
        name: str,
        on_epoch: EpochCallback | None = None,
        resume: bool = False,
        **overrides: Any,
    ) -> dict[str, Any]:
        """Train a built model; every epoch, best weights and checkpoint are saved as they come.

        With `resume`, training goes on from the project's last checkpoint (when there is one).
        """
        if name not in self.built:
            await self.build(name)
        document = self.project.model(name)
        roles = self.dataset.definition.get("roles") or []
        settings = training_settings(document, document.get("build") or {}, roles, **overrides)
        weights = (self.dataset.definition.get("analysis") or {}).get("weights")
        if (document.get("settings") or {}).get("class_weights") and weights and settings["loss"]:
            first, *others = settings["loss"]
            settings["loss"] = [with_class_weights(first, weights), *others]
        worker_name = f"modeltrain {name}"
        trainer = await self.pool.get("modeltrain", worker_name)
        checkpoint = self.project.weights(name, "checkpoint") if resume else None
        best = self.project.weights(name, "best") if checkpoint else None
        request: dict[str, Any] = {"link": self.dataset.link, "settings": settings}
        if checkpoint is not None:
            request["checkpoint"] = checkpoint[1]
            if best is not None:
                request["best_weights"] = best[1]
        # Epochs past the checkpoint (or all of them, for a new training) are redone.
        self.project.clear_epochs(name, checkpoint[0] if checkpoint else -1)

        def on_event(event: WorkerEvent) -> None:
            if event.worker != worker_name or event.kind != "message":
                return
            kind, value = event.data
            if kind == "epoch":
                self.project.add_epoch(name, int(value["epoch"]), value)
                if on_epoch is not None:
                    on_epoch(value)
            elif kind == "best":
                self.project.set_weights(name, "best", int(value["epoch"]), value["weights"])
            elif kind == "checkpoint":
                self.project.set_weights(name, "checkpoint", int(value["epoch"]), value["data"])

        unsubscribe = self.pool.manager.subscribe(on_event)
        self.project.update_model(name, status="training")
        try:
            result = await trainer.request("train", {"built": self.built[name], **request})
        except Exception:
            self.project.update_model(name, status="error")
            raise
        finally:
            unsubscribe()
        summary = {k: v for k, v in result.items() if k != "history"}
        self.project.update_model(name, status="finished", training=summary, settings_used=settings)
        return result
