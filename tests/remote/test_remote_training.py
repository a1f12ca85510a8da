"""Training on the "server": dataset here, modeltrain there, everything through the tunnel."""

from __future__ import annotations

import asyncio
import os
import subprocess

import pytest
import safetensors.torch
import torch
from tests.helpers.waiting import eventually

from torchstudio.app.runtime.manager import WorkerManager

pytestmark = pytest.mark.timeout(180)

SERVER = "test server"
DIGITS = "from torchstudio.datasets import Digits\ntrain = Digits(train=True)\nvalid = Digits(train=False)\n"
MODEL = "from torchstudio.models import MNISTClassifier\nmodel = MNISTClassifier(channels=8, hidden=32)\n"
LOSS = "from torchstudio.loss import CrossEntropy\nloss = CrossEntropy()\n"
METRIC = "from torchstudio.metrics import Accuracy\nmetric = Accuracy(task='multiclass', num_classes=10)\n"
ADAM = "from torchstudio.optim import Adam\noptimizer = Adam(model.parameters(), lr=0.003)\n"
STEP = (
    "from torchstudio.schedulers import Step\nscheduler = Step(optimizer, step_size=1, gamma=0.7)\n"
)


def settings(epochs: int) -> dict:
    return {
        "device": "cpu",
        "epochs": epochs,
        "batch_size": 64,
        "loss": [LOSS],
        "metric": [METRIC],
        "optimizer": ADAM,
        "scheduler": STEP,
        "input_ids": [0],
        "output_ids": [1],
        "threads": 1,  # the app's datasetload shares this machine's cores
    }


def built_model() -> object:
    from torchstudio.modelbuild import build

    inputs = [torch.zeros(1, 1, 8, 8)]
    return build({"code": MODEL, "inputs": inputs, "mode": "source", "graph": False})["built"]


async def setup(manager: WorkerManager, servers, tmp_path):
    """A local datasetload, a remote modeltrain, and the dataset link rewritten for it."""
    loader = await manager.start_worker(
        "datasetload", env={"TORCHSTUDIO_CACHE": str(tmp_path / "local")}
    )
    trainer = await servers.start_worker(
        manager, SERVER, "modeltrain", env={"TORCHSTUDIO_CACHE": str(tmp_path / "server")}
    )
    local_link = (await loader.request("load", {"code": DIGITS}))["link"]
    messages: list[tuple[str, object]] = []
    manager.subscribe(
        lambda e: (
            messages.append(e.data) if e.worker == trainer.name and e.kind == "message" else None
        )
    )
    return trainer, await servers.link_to_server(SERVER, local_link), messages


def of(messages: list, kind: str) -> list:
    return [value for msg_type, value in messages if msg_type == kind]


async def test_two_epochs_on_the_server(servers, tmp_path):
    async with WorkerManager() as manager:
        trainer, link, messages = await setup(manager, servers, tmp_path)
        built = await asyncio.to_thread(built_model)
        summary = await trainer.request(
            "train", {"built": built, "link": link, "settings": settings(2)}
        )
        epochs = of(messages, "epoch")
        assert [e["epoch"] for e in epochs] == [1, 2]
        for epoch in epochs:
            assert {"train_loss", "valid_loss", "train_metric", "valid_metric"} <= set(epoch)
        assert epochs[-1]["train_loss"] < epochs[0]["train_loss"]
        best = of(messages, "best")
        assert best and best[-1]["epoch"] in (1, 2)
        weights = safetensors.torch.load(best[-1]["weights"])
        assert weights and all(isinstance(t, torch.Tensor) for t in weights.values())
        assert summary["epochs_done"] == 2


async def test_a_dropped_connection_mid_training_then_resume(servers, tmp_path):
    async with WorkerManager() as manager:
        trainer, link, messages = await setup(manager, servers, tmp_path)
        built = await asyncio.to_thread(built_model)
        job = asyncio.ensure_future(
            trainer.request("train", {"built": built, "link": link, "settings": settings(100)})
        )
        await eventually(lambda: of(messages, "checkpoint"), timeout=60, what="a checkpoint")
        checkpoint = of(messages, "checkpoint")[-1]
        pid = trainer.process.pid
        session = await servers.connect(SERVER)
        port = await session.reverse_port(manager.host, manager.port)
        pattern = f"torchstudio.modeltrain --address 127.0.0.1 --port {port}"
        session.abort()
        with pytest.raises(Exception, match="SIGHUP"):
            await job
        assert trainer.exit is not None and trainer.exit["signal"] == "SIGHUP"
        await eventually(
            lambda: not os.path.exists(f"/proc/{pid}"),
            timeout=15,
            what="the remote trainer gone with its connection",
        )
        assert subprocess.run(["pgrep", "-f", pattern]).returncode == 1

        resumed_trainer, link, messages = await setup(manager, servers, tmp_path)
        done = checkpoint["epoch"]
        summary = await resumed_trainer.request(
            "train",
            {
                "built": built,
                "link": link,
                "checkpoint": checkpoint["data"],
                "settings": settings(done + 1),
            },
        )
        assert [e["epoch"] for e in of(messages, "epoch")] == [done + 1]
        assert summary["epochs_done"] == done + 1
