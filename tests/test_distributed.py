"""Data-parallel training with two Gloo processes on this machine, through the real workers.

The demo setup (Digits + MNISTClassifier, without dropout so that both runs draw no random
numbers) trained on ["cpu", "cpu"] with 32 samples per device must report what one
process reports with batches of 64, and stop, resume and rank failures must behave.
"""

from __future__ import annotations

import asyncio
import os
import signal

import pytest
import torch
from tests.helpers import training as helpers
from tests.helpers.processes import process_gone
from tests.helpers.training import (
    MODEL_NO_DROPOUT,
    SGD,
    STEP,
    TrainerJob,
    assert_same_history,
    start_job,
)

from torchstudio.app.runtime.manager import WorkerError, WorkerManager

pytestmark = pytest.mark.timeout(240)

TWO_CPUS = ["cpu", "cpu"]


def built_model() -> dict:
    return helpers.built_model(MODEL_NO_DROPOUT)


async def start(manager: WorkerManager, tmp_path) -> TrainerJob:
    return await start_job(manager, tmp_path, defaults={"scheduler": STEP})


def settings(**overrides) -> dict:
    return helpers.settings(scheduler=STEP, **overrides)


@pytest.mark.slow
async def test_two_ranks_report_what_one_process_reports(tmp_path):
    async with WorkerManager() as manager:
        job = await start(manager, tmp_path)
        built = await asyncio.to_thread(built_model)
        single = await job.train(built, settings={"batch_size": 64, "optimizer": SGD})
        job.messages.clear()
        both = await job.train(built, settings={"devices": TWO_CPUS, "optimizer": SGD})
        assert_same_history(single["history"], both["history"])
        assert both["world_size"] == 2 and both["effective_batch_size"] == 64
        assert both["batch_size_per_device"] == 32 and "linear scaling" in both["lr_scaling"]
        assert [r["rank"] for r in both["ranks"]] == [0, 1] and both["backend"] == "gloo"
        epochs = job.of("epoch")
        assert [e["epoch"] for e in epochs] == [1, 2]
        assert all(e["effective_batch_size"] == 64 and e["world_size"] == 2 for e in epochs)
        assert epochs[-1]["samples_per_s"] > 0
        (ranks,) = job.of("ranks")
        assert [(r["rank"], r["device"]) for r in ranks] == [(0, "cpu"), (1, "cpu")]
        assert all(process_gone(r["pid"]) for r in ranks)
        best = job.of("best")
        assert best and best[-1]["epoch"] == both["best_epoch"]
        assert both["best_metric"] == pytest.approx(single["best_metric"], rel=1e-3)
        assert len(job.of("checkpoint")) == 2
        # The trainer keeps the job's weights, as after one process: inference works.
        (logits,) = await job.trainer.request("infer", {"inputs": [torch.rand(1, 8, 8)]})
        assert logits.shape == (10,)


@pytest.mark.slow
async def test_stop_and_resume(tmp_path):
    async with WorkerManager() as manager:
        job = await start(manager, tmp_path)
        built = await asyncio.to_thread(built_model)
        whole = await job.train(built, settings={"devices": TWO_CPUS})

        # Stopped by the user after its first epoch, then resumed from that epoch's checkpoint
        # (the step schedule does not depend on the number of epochs asked for).
        job.messages.clear()
        running = asyncio.ensure_future(
            job.train(built, settings={"devices": TWO_CPUS, "epochs": 200})
        )
        await job.wait_for("epoch")
        assert await job.trainer.request("cancel") is True
        stopped = await running
        assert stopped["reason"].startswith("stopped by the user")
        assert 1 <= stopped["epochs_done"] < 200
        assert all(process_gone(r["pid"]) for r in job.of("ranks")[0])
        (checkpoint,) = [c for c in job.of("checkpoint") if c["epoch"] == 1]
        resumed = await job.train(
            built, settings={"devices": TWO_CPUS}, checkpoint=checkpoint["data"]
        )
        assert resumed["epochs_done"] == 2
        assert_same_history(whole["history"], resumed["history"])


@pytest.mark.slow
async def test_a_rank_that_dies_or_fails_ends_the_job_with_its_name(tmp_path):
    async with WorkerManager() as manager:
        job = await start(manager, tmp_path)
        built = await asyncio.to_thread(built_model)
        running = asyncio.ensure_future(
            job.train(built, settings={"devices": TWO_CPUS, "epochs": 200})
        )
        (ranks,) = await job.wait_for("ranks")
        await job.wait_for("epoch")
        os.kill(ranks[1]["pid"], signal.SIGKILL)
        with pytest.raises(
            WorkerError, match=r"rank 1 \(cpu on this machine\) died: it was killed by SIGKILL"
        ):
            await asyncio.wait_for(running, 60)
        assert process_gone(ranks[0]["pid"]) and process_gone(ranks[1]["pid"])

        nan_loss = (
            "import torch\nclass Broken(torch.nn.Module):\n"
            "    def forward(self, output, target):\n        return output.sum() * float('nan')\n"
            "loss = Broken()\n"
        )
        with pytest.raises(
            WorkerError,
            match=r"rank [01] \(cpu on this machine\) failed: the loss became nan at epoch 1",
        ):
            await job.train(built, settings={"devices": TWO_CPUS, "loss": [nan_loss]})
        assert job.trainer.alive  # the trainer itself survives its ranks
        with pytest.raises(WorkerError, match="every CUDA GPU, and this machine has none"):
            await job.train(built, settings={"devices": "all"})


# --- the pure parts: plan, shards, failure causes


def test_plans_from_the_devices_setting():
    from torchstudio.train.ddp.plan import PlanError, batch_summary, local_plan
    from torchstudio.train.settings import TrainSettings

    one = local_plan(None, "cpu", 60, 0, None)
    assert not one.distributed and one.ranks[0].device == "cpu"
    two = local_plan(TWO_CPUS, "cpu", 60, 0, None)
    assert two.distributed and two.backend == "gloo" and two.world_size == 2
    gpus = local_plan("all", "cpu", 60, 4, None)
    assert [r.device for r in gpus.ranks] == [f"cuda:{i}" for i in range(4)]
    assert gpus.backend == "nccl"
    hosts = [
        {"server": None, "devices": ["cuda:0", "cuda:1"], "address": "10.0.0.1"},
        {"server": "gpu2", "devices": ["cuda:0"]},
    ]
    with pytest.raises(PlanError, match="started by the app"):
        local_plan(hosts, "cpu", 60, 2, None)
    with pytest.raises(PlanError, match="every CUDA GPU, and this machine has none"):
        local_plan("all", "cpu", 60, 0, None)
    with pytest.raises(PlanError, match="GPUs only or on CPUs only"):
        local_plan(["cpu", "cuda:0"], "cpu", 60, 1, None)
    with pytest.raises(PlanError, match="one process only"):
        local_plan(["cuda:0", "cuda:0"], "cpu", 60, 1, None)
    with pytest.raises(ValueError, match="first host's address"):
        TrainSettings.from_json(settings(devices=[hosts[1], {"server": "b", "devices": "all"}]))
    summary = batch_summary(32, 4)
    assert summary["effective_batch_size"] == 128 and "about 4" in summary["lr_scaling"]


def test_each_rank_gets_its_share_of_every_global_batch():
    from torchstudio.train.ddp.shard import ShardedBatches, share

    class Column:
        """A stand-in for CachedBatches: the samples are their own indices."""

        def __len__(self) -> int:
            return 7

        def gather(self, picked, start=None):
            return [picked.clone()]

    assert [share(5, r, 2) for r in range(2)] == [(0, 3), (3, 5)]
    assert [share(1, r, 3) for r in range(3)] == [(0, 1), (1, 1), (1, 1)]
    for shuffle in (False, True):
        per_rank = [
            list(
                ShardedBatches(Column(), rank, 3).batches(
                    2, shuffle, torch.Generator().manual_seed(1)
                )
            )
            for rank in range(3)
        ]
        assert len({len(b) for b in per_rank}) == 1  # every rank steps as often
        order = torch.randperm(7, generator=torch.Generator().manual_seed(1))
        expected = order.tolist() if shuffle else list(range(7))
        seen = []
        for step in zip(*per_rank, strict=True):
            seen += [i for b in step for i in b[0][: b.samples].tolist()]
            assert sum(b.loss_scale for b in step) == pytest.approx(3.0)
        assert seen == expected  # the same samples, in the order one process takes them
    last = [per_rank[r][-1] for r in range(3)]  # 1 sample left for 3 ranks
    assert [b.samples for b in last] == [1, 0, 0] and [b.loss_scale for b in last] == [3, 0, 0]


def test_the_cause_of_a_failure_is_the_rank_that_failed_first_hand():
    from torchstudio.train.ddp.cluster import pick_error
    from torchstudio.train.ddp.failure import RankEnd, failure_text

    lost = RankEnd(0, "cpu", "this machine", error="Connection reset by peer", peer=True)
    killed = RankEnd(1, "cpu", "this machine", returncode=-9, output=["loading", ""])
    assert (
        "rank 1 (cpu on this machine) died: it was killed by SIGKILL (its last output: loading)"
        in (failure_text([lost, killed]))
    )
    own = RankEnd(2, "cuda:1", "gpu2", error="CUDA out of memory", returncode=1)
    assert failure_text([lost, killed, own]).endswith(
        "rank 2 (cuda:1 on gpu2) failed: CUDA out of memory"
    )
    assert "lost contact" in failure_text([lost])
    assert "exited with code 3" in failure_text([RankEnd(0, "cpu", "x", returncode=3)])
    errors = [
        ("host 0 (this machine)", RuntimeError("rank 0 lost contact with the other ranks: ...")),
        ("host 1 (gpu2)", RuntimeError("rank 1 (cpu on gpu2) died: it was killed by SIGKILL")),
    ]
    assert pick_error(errors).startswith("host 1 (gpu2): rank 1")
