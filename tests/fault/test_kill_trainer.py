"""SIGKILL the trainer at random moments, 6 times (20 under `make soak`): reported, the project opens, Resume
goes on from the run's last checkpoint and loses at most the epoch that was in progress."""

import asyncio
import os
import random
import signal

import pytest
from faultsetup import check_project_file, use_tiny_model
from tests.helpers.tiers import soak
from tests.helpers.waiting import eventually

pytestmark = [pytest.mark.timeout(420), pytest.mark.soak]

KILLS = soak(6, 20)


async def test_killing_the_trainer_again_and_again_loses_at_most_the_epoch_in_progress(studio):
    project, training, pool = studio.project, studio.training, studio.pool
    name = project.model_names()[0]
    use_tiny_model(project, name, epochs=1000)
    trainer = f"modeltrain {name}"
    first_epochs: list[int] = []  # the first epoch each run reported

    def on_event(event) -> None:
        if event.worker == trainer and event.kind == "message" and event.data[0] == "epoch":
            first_epochs.append(int(event.data[1]["epoch"]))

    studio.manager.subscribe(on_event)
    rng = random.Random(10)
    saved = 0  # the checkpoint's epoch before each run
    checked_resumes = 0
    for attempt in range(KILLS):
        first_epochs.clear()
        # Resume continues the latest run from its own checkpoint; a run killed before its
        # first checkpoint cannot be resumed: Train starts a new run.
        training.start(name, resume=project.weights(name, "checkpoint") is not None)
        worker = await eventually(lambda: pool.running(trainer), timeout=120, what="the trainer")
        # The delays are the attack, not a wait: the kill lands at a random moment.
        if attempt % 2:  # from its start: getting the dataset, loading the model, an epoch
            await asyncio.sleep(rng.uniform(0.1, 1.5))
        else:  # from its first epoch: training, sending and saving epochs and weights
            await eventually(lambda: first_epochs, timeout=120, what="the run's first epoch")
            await asyncio.sleep(rng.uniform(0.0, 1.0))
        os.kill(worker.process.pid, signal.SIGKILL)
        run = await asyncio.wait_for(training.wait(name), 60)

        assert run.status == "error", (attempt, run.status, run.message)
        assert "killed by SIGKILL" in run.error, run.error
        epochs, checkpoint = check_project_file(project.path)[name]  # a fresh Project
        assert checkpoint >= saved, (attempt, checkpoint, saved)  # nothing saved was lost
        if first_epochs:
            assert first_epochs[0] == saved + 1, (attempt, first_epochs, saved)
            assert epochs[-1] == first_epochs[-1]  # every reported epoch is stored
            checked_resumes += saved > 0
        saved = checkpoint

    # Every other kill comes after a first epoch: those after the first check a resume.
    assert saved >= 2 and checked_resumes >= min(3, KILLS // 3), (saved, checked_resumes)
    # The last resume runs to the end: the epochs go on from the checkpoint, none missing.
    first_epochs.clear()
    training.start(name, resume=True, epochs=saved + 2)
    run = await asyncio.wait_for(training.wait(name), 120)
    assert run.status == "finished", run.error
    assert first_epochs == [saved + 1, saved + 2]
    epochs, checkpoint = check_project_file(project.path)[name]
    assert epochs == list(range(1, saved + 3)) and checkpoint == saved + 2
