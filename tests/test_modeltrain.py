"""modeltrain as a real worker: training, best weights, resume, errors, inference, exports."""

import asyncio

import numpy as np
import pytest
import safetensors.torch
import torch
from tests.helpers.training import (
    DIGITS,
    LOSS,
    MODEL,
    STEP,
    built_model,
    settings,
)
from tests.helpers.training import start_job as start

from torchstudio.app.runtime.manager import WorkerError, WorkerManager
from torchstudio.modeltrain import Best, is_better
from torchstudio.train.settings import TrainSettings
from torchstudio.train.state import CheckpointError, pack, unpack

pytestmark = pytest.mark.timeout(300)

TWO_IN_TWO_OUT_DATA = """
import torch
g = torch.Generator().manual_seed(0)
a, b = torch.randn(400, 4, generator=g), torch.randn(400, 3, generator=g)
label = (a.sum(1) > 0).long()
value = (b.sum(1, keepdim=True) * 2.0)
train = torch.utils.data.TensorDataset(a, b, label, value)
"""
TWO_IN_TWO_OUT_MODEL = """
import torch
from torch import nn
class TwoHeads(nn.Module):
    def __init__(self):
        super().__init__()
        self.left, self.right = nn.Linear(4, 2), nn.Linear(3, 1)
    def forward(self, a, b):
        return self.left(a), self.right(b)
model = TwoHeads()
"""
UNTRACEABLE_MODEL = """
import torch
from torch import nn
class Gated(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    def forward(self, x):
        if x.sum() > 0:  # data-dependent control flow: torch.fx cannot trace this
            return self.body(x)
        return self.body(-x)
model = Gated()
"""


@pytest.mark.slow
async def test_training_improves_keeps_best_weights_and_infers(tmp_path):
    async with WorkerManager() as manager:
        run = await start(manager, tmp_path)
        built = built_model(MODEL)
        summary = await run.train(built, settings={"epochs": 3, "scheduler": STEP})
        epochs = run.of("epoch")
        assert [e["epoch"] for e in epochs] == [1, 2, 3]
        assert epochs[-1]["train_loss"] < epochs[0]["train_loss"]
        assert epochs[-1]["valid_metric"] > epochs[0]["valid_metric"]
        assert epochs[1]["lr"] == pytest.approx(0.003 * 0.7)
        best = run.of("best")
        assert best[-1]["epoch"] == summary["best_epoch"]
        weights = safetensors.torch.load(best[-1]["weights"])
        assert "conv1.weight" in weights or len(weights) > 2
        assert len(run.of("checkpoint")) == 3 and summary["reason"] == "finished"
        (logits,) = await run.trainer.request("infer", {"inputs": [torch.rand(1, 8, 8)]})
        assert logits.shape == (10,)


@pytest.mark.slow
async def test_stop_and_resume_gives_the_same_result(tmp_path):
    async with WorkerManager() as manager:
        run = await start(manager, tmp_path)
        built = built_model(MODEL)
        whole = await run.train(built, settings={"epochs": 3, "scheduler": STEP})
        first = await run.train(built, settings={"epochs": 1, "scheduler": STEP})
        checkpoint = run.of("checkpoint")[-1]["data"]
        fresh = await manager.start_worker(
            "modeltrain", env={"TORCHSTUDIO_CACHE": str(tmp_path / "cache")}
        )
        resumed = await fresh.request(
            "train",
            {
                "built": built,
                "link": run.link,
                "checkpoint": checkpoint,
                "settings": settings(epochs=3, scheduler=STEP),
            },
        )
        assert first["epochs_done"] == 1 and resumed["epochs_done"] == 3
        for a, b in zip(whole["history"], resumed["history"], strict=True):
            assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-6)
            assert a["valid_metric"] == pytest.approx(b["valid_metric"], rel=1e-6)


@pytest.mark.slow
async def test_cancel_stops_after_the_current_batch(tmp_path):
    async with WorkerManager() as manager:
        run = await start(manager, tmp_path)
        built = built_model(MODEL)
        job = asyncio.ensure_future(run.train(built, settings={"epochs": 200, "batch_size": 8}))
        await run.wait_for("epoch")
        assert await run.trainer.request("cancel") is True
        summary = await job
        assert summary["reason"].startswith("stopped by the user")
        assert summary["epochs_done"] < 200


@pytest.mark.slow
async def test_two_inputs_two_outputs_and_an_untraceable_model(tmp_path):
    async with WorkerManager() as manager:
        run = await start(manager, tmp_path, TWO_IN_TWO_OUT_DATA)
        built = built_model(TWO_IN_TWO_OUT_MODEL, [torch.zeros(4), torch.zeros(3)])
        mse = "from torchstudio.loss import MeanSquareError\nloss = MeanSquareError()\n"
        summary = await run.train(
            built,
            settings={
                "epochs": 4,
                "input_ids": [0, 1],
                "output_ids": [2, 3],
                "loss": [LOSS, mse],
                "metric": [
                    "from torchstudio.metrics import Accuracy\nmetric = Accuracy(task='multiclass', num_classes=2)\n"
                ],
                "optimizer": "import torch\noptimizer = torch.optim.Adam(model.parameters(), lr=0.05)\n",
            },
        )
        history = summary["history"]
        assert history[-1]["train_loss"] < history[0]["train_loss"]

        digits = await start(manager, tmp_path)
        untraceable = built_model(UNTRACEABLE_MODEL, [torch.zeros(1, 8, 8)])
        summary = await digits.train(untraceable, settings={"epochs": 2})
        assert summary["history"][1]["train_loss"] < summary["history"][0]["train_loss"]


@pytest.mark.slow
async def test_error_messages(tmp_path):
    async with WorkerManager() as manager:
        run = await start(manager, tmp_path)
        built = built_model(MODEL)
        nan_loss = (
            "import torch\nclass Broken(torch.nn.Module):\n"
            "    def forward(self, output, target):\n        return output.sum() * float('nan')\n"
            "loss = Broken()\n"
        )
        with pytest.raises(WorkerError, match=r"the loss became nan at epoch 1, training batch 0"):
            await run.train(built, settings={"loss": [nan_loss]})
        mse = "from torchstudio.loss import MeanSquareError\nloss = MeanSquareError()\n"
        with pytest.raises(
            WorkerError,
            match=r"MeanSquareError failed on output 0 of shape 32×10 and target of shape 32",
        ):
            await run.train(built, settings={"loss": [mse], "metric": []})
        with pytest.raises(WorkerError, match="CUDA is not available|this machine has"):
            await run.train(built, settings={"device": "cuda:7"})
        with pytest.raises(WorkerError, match="precision must be one of"):
            await run.train(built, settings={"precision": "fp8"})
        with pytest.raises(WorkerError, match='File "optimizer code", line 1'):
            await run.train(built, settings={"optimizer": "optimizer = Adamm(model.parameters())"})
        with pytest.raises(WorkerError, match="1 output.* 2 loss"):
            await run.train(built, settings={"loss": [LOSS, LOSS]})
        with pytest.raises(WorkerError, match="cannot resume from this checkpoint"):
            await run.train(built, checkpoint=b"not a checkpoint")
        assert run.trainer.alive


@pytest.mark.slow
async def test_fresh_samples_mode_and_bf16(tmp_path):
    async with WorkerManager() as manager:
        run = await start(manager, tmp_path)
        built = built_model(MODEL)
        summary = await run.trainer.request(
            "train",
            {
                "built": built,
                "dataset": {"code": DIGITS},
                "settings": settings(data="fresh", loader_workers=1, precision="bf16"),
            },
        )
        assert summary["epochs_done"] == 2
        assert summary["history"][1]["train_loss"] < summary["history"][0]["train_loss"]


@pytest.mark.slow
async def test_every_export_loads_back_and_agrees(tmp_path):
    async with WorkerManager() as manager:
        run = await start(manager, tmp_path)
        built = built_model(MODEL)
        await run.train(built, settings={"epochs": 1})
        sample = [torch.rand(1, 8, 8)]
        for fmt in ["safetensors", "pt", "torchscript-trace", "torchscript-script", "onnx"]:
            path = str(tmp_path / f"model.{fmt}")
            result = await run.trainer.request(
                "export", {"format": fmt, "path": path, "inputs": sample}
            )
            assert result["max_difference"] <= 1e-4 and result["bytes"] > 1000, fmt
            if fmt == "onnx":
                assert (
                    result["checked_batch"] == 3
                )  # another batch size than exported: dynamic axis
        with pytest.raises(WorkerError, match="unknown export format"):
            await run.trainer.request("export", {"format": "zip", "path": path, "inputs": sample})
        with pytest.raises(WorkerError, match="folder .* does not exist"):
            await run.trainer.request(
                "export", {"format": "pt", "path": "/nonexistent/m.pt", "inputs": sample}
            )


def test_best_is_highest_metric_then_lowest_loss():
    assert is_better(0.5, 1.0, None)
    assert is_better(0.6, 9.0, Best(1, 0.5, 1.0))
    assert not is_better(0.4, 0.1, Best(1, 0.5, 1.0))
    assert is_better(0.5, 0.9, Best(1, 0.5, 1.0))
    assert is_better(None, 0.9, Best(1, None, 1.0)) and not is_better(None, 1.1, Best(1, None, 1.0))
    # An error metric (MAE): the lowest wins.
    assert is_better(0.4, 9.0, Best(1, 0.5, 1.0), higher=False)
    assert not is_better(0.6, 0.1, Best(1, 0.5, 1.0), higher=False)


def test_an_error_metric_is_lower_is_better():
    from torchmetrics.classification import MulticlassAccuracy
    from torchmetrics.regression import MeanAbsoluteError

    from torchstudio.metricadapter import MetricAdapter
    from torchstudio.train.loop import metrics_higher

    error, accuracy = MetricAdapter(MeanAbsoluteError()), MetricAdapter(MulticlassAccuracy(3))
    assert not error.higher_is_better and accuracy.higher_is_better
    assert not metrics_higher([error]) and metrics_higher([error, accuracy])
    assert metrics_higher([])


def test_settings_and_checkpoint_round_trip():
    with pytest.raises(ValueError, match="unknown training settings: colour"):
        TrainSettings.from_json({"loss": [LOSS], "colour": 1})
    with pytest.raises(ValueError, match="one loss per model output"):
        TrainSettings.from_json({})
    state = {"a": (1, 2.5, None), "t": torch.arange(4), "n": np.ones(2), 3: [True, "x"]}
    back = unpack(pack(state))
    assert back["a"] == (1, 2.5, None) and torch.equal(back["t"], torch.arange(4))
    assert back[3] == [True, "x"] and back["n"].tolist() == [1.0, 1.0]
    with pytest.raises(CheckpointError):
        unpack(b"garbage")
