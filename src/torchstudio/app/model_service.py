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

    async def build(self, name: str) -> dict[str, Any]:
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
                "graph": False,
            },
        )
        self.built[name] = result["built"]
        summary = {k: result[k] for k in ("parameters", "outputs", "warnings", "suggestions")}
        self.project.update_model(name, build=summary, status="built")
        return result

    async def train(
        self,
        name: str,
        on_epoch: EpochCallback | None = None,
        **overrides: Any,
    ) -> dict[str, Any]:
        """Train a built model; every epoch, best weights and checkpoint are saved as they come."""
        if name not in self.built:
            await self.build(name)
        document = self.project.model(name)
        roles = self.dataset.definition.get("roles") or []
        settings = training_settings(document, document.get("build") or {}, roles, **overrides)
        worker_name = f"modeltrain {name}"
        trainer = await self.pool.get("modeltrain", worker_name)
        self.project.clear_epochs(name)

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
            result = await trainer.request(
                "train",
                {"built": self.built[name], "link": self.dataset.link, "settings": settings},
            )
        except Exception:
            self.project.update_model(name, status="error")
            raise
        finally:
            unsubscribe()
        summary = {k: v for k, v in result.items() if k != "history"}
        self.project.update_model(name, status="finished", training=summary, settings_used=settings)
        return result
