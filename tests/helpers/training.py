"""A training as the trainer worker sees it: parts as code, settings, a loader + trainer pair.

The tests of `modeltrain`, of data-parallel training and of remote training all build the
same request; it is written here once.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import torch

from torchstudio.app.runtime.manager import WorkerHandle, WorkerManager
from torchstudio.modelbuild import build

from .waiting import eventually

DIGITS = (
    "from torchstudio.datasets import Digits\n"
    "train = Digits(train=True)\n"
    "valid = Digits(train=False)\n"
)
MODEL = "from torchstudio.models import MNISTClassifier\nmodel = MNISTClassifier(channels=8, hidden=32)\n"
# Without dropout the model draws no random numbers in training: two runs can be compared.
MODEL_NO_DROPOUT = (
    "from torchstudio.models import MNISTClassifier\n"
    "model = MNISTClassifier(channels=8, hidden=32, dropout=0.0)\n"
)
LOSS = "from torchstudio.loss import CrossEntropy\nloss = CrossEntropy()\n"
METRIC = "from torchstudio.metrics import Accuracy\nmetric = Accuracy(task='multiclass', num_classes=10)\n"
ADAM = "from torchstudio.optim import Adam\noptimizer = Adam(model.parameters(), lr=0.003)\n"
# Adam divides each step by the gradient's running size, so the last-bit differences of a
# sum over two ranks grow into visible ones on near-zero gradients; SGD keeps them tiny, and
# comparisons of data-parallel runs can stay at floating-point tolerance.
SGD = "import torch\noptimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)\n"
STEP = (
    "from torchstudio.schedulers import Step\nscheduler = Step(optimizer, step_size=1, gamma=0.7)\n"
)
DIGIT_INPUT = [torch.zeros(1, 8, 8)]  # one Digits sample, as the build takes it


def settings(**overrides: Any) -> dict[str, Any]:
    """Quick training settings on Digits: two epochs of 32, one thread; `overrides` win."""
    base = {
        "epochs": 2,
        "batch_size": 32,
        "loss": [LOSS],
        "metric": [METRIC],
        "optimizer": ADAM,
        "threads": 1,
    }
    return {**base, **overrides}


quick_settings = settings  # the name `TrainerJob` uses, where `settings` is an argument


def built_model(
    code: str = MODEL, inputs: list[torch.Tensor] | None = None, mode: str = "source"
) -> dict[str, Any]:
    """The trainer's `built` request part for `code` on `inputs` (one sample each)."""
    samples = [t.unsqueeze(0) for t in (inputs or DIGIT_INPUT)]
    return build({"code": code, "inputs": samples, "mode": mode, "graph": False})["built"]


class TrainerJob:
    """A datasetload + modeltrain pair, and every message the trainer sent."""

    def __init__(
        self,
        manager: WorkerManager,
        loader: WorkerHandle,
        trainer: WorkerHandle,
        link: dict[str, Any],
        defaults: dict[str, Any] | None = None,
    ) -> None:
        self.manager, self.loader, self.trainer, self.link = manager, loader, trainer, link
        self.defaults = defaults or {}  # settings every `train` of this job starts from
        self.messages: list[tuple[str, Any]] = []
        manager.subscribe(
            lambda e: (
                self.messages.append(e.data)
                if e.worker == trainer.name and e.kind == "message"
                else None
            )
        )

    def settings(self, **overrides: Any) -> dict[str, Any]:
        """The quick settings, with this job's defaults, with `overrides`."""
        return quick_settings(**{**self.defaults, **overrides})

    def of(self, kind: str) -> list[Any]:
        return [value for msg_type, value in self.messages if msg_type == kind]

    async def train(
        self, built: dict[str, Any], settings: dict[str, Any] | None = None, **request: Any
    ) -> dict[str, Any]:
        """Train `built` with the job's settings updated by `settings`; `request` adds fields."""
        full = {"built": built, "link": self.link, "settings": self.settings(**(settings or {}))}
        return await self.trainer.request("train", {**full, **request})

    async def wait_for(self, kind: str, count: int = 1, timeout: float = 90) -> list[Any]:
        """The trainer's `kind` messages, once there are at least `count`."""
        await eventually(
            lambda: len(self.of(kind)) >= count,
            timeout=timeout,
            what=f"{count} {kind} message(s) from the trainer",
        )
        return self.of(kind)


async def start_job(
    manager: WorkerManager,
    folder: Path,
    code: str = DIGITS,
    dataset_settings: dict[str, Any] | None = None,
    defaults: dict[str, Any] | None = None,
) -> TrainerJob:
    """Load `code` in a new datasetload worker and start a modeltrain worker beside it."""
    env = {"TORCHSTUDIO_CACHE": str(folder / "cache")}
    loader, trainer = await asyncio.gather(
        manager.start_worker("datasetload", env=env),
        manager.start_worker("modeltrain", env=env),
    )
    report = await loader.request("load", {"code": code, "settings": dataset_settings or {}})
    return TrainerJob(manager, loader, trainer, report["link"], defaults)


def assert_same_history(one: list[dict[str, Any]], other: list[dict[str, Any]]) -> None:
    """Two trainings agree epoch by epoch, in losses, metrics and learning rate."""
    assert [e["epoch"] for e in one] == [e["epoch"] for e in other]
    for a, b in zip(one, other, strict=True):
        for key in ("train_loss", "valid_loss", "train_metric", "valid_metric", "lr"):
            # Two ranks sum gradients in another order than one process: the last bits differ,
            # and two epochs of momentum SGD carry that to 2.4e-4 (seen once in a CI run).
            assert a[key] == pytest.approx(b[key], rel=1e-3, abs=1e-6), (key, a, b)
