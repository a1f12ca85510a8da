"""Provenance and runs against real workers and a real project file: a dataset change marks
analysis, class weights, builds and runs stale; Train starts a new run and keeps the others;
Resume continues only the latest run from its own checkpoint."""

import os
import signal

import pytest

from torchstudio.app.dataset.service import StaleResult
from torchstudio.app.fingerprint import short
from torchstudio.app.models.service import ModelError
from torchstudio.app.store.project import Project

pytestmark = [pytest.mark.timeout(240), pytest.mark.slow]


def quick(project, name, **settings):
    project.update_model(name, settings={**project.model(name)["settings"], **settings})


async def train(training, name, **overrides):
    training.start(name, **overrides)
    return await training.wait(name)


async def test_a_dataset_change_marks_results_stale_and_refuses_class_weights(studio, tmp_path):
    project, dataset, models = studio.project, studio.dataset, studio.models
    training, actions = studio.training, studio.actions
    name = project.model_names()[0]
    assert await dataset.analyze(), dataset.analysis_message
    quick(project, name, epochs=1, class_weights=True)
    run = await train(training, name)
    assert run.status == "finished", run.error
    first = models.latest_run(name)
    assert (first.number, first.dataset) == (1, dataset.fingerprint())
    assert dataset.analysis_stale is None and models.build_stale(name) is None
    assert models.run_stale(first) is None
    before = dataset.fingerprint()

    # Another split of the data: every result made from the previous one is stale.
    assert await dataset.configure(usage_ratio=0.5)
    after = dataset.fingerprint()
    assert after != before
    assert "stale: the dataset or analyzer changed" in dataset.analysis_stale
    with pytest.raises(StaleResult) as refused:
        dataset.class_weights()
    # The message names both datasets.
    assert short(before) in str(refused.value) and short(after) in str(refused.value)
    assert short(after) in models.build_stale(name)
    reason = models.run_stale(first)
    assert f"run 1 of {name} was trained on dataset {short(before)}" in reason
    assert short(after) in reason

    # Training with those class weights is refused with that message; no run is made.
    run = await train(training, name)
    assert run.status == "error" and "class weights refused" in run.error, run.error
    assert short(before) in run.error and short(after) in run.error
    assert [r["number"] for r in project.runs(name)] == [1]

    # Show output and export of run 1 explain instead of a traceback.
    await actions.predict(name, 0)
    error = actions.state(name).prediction["error"]
    assert "was trained on dataset" in error and "Traceback" not in error
    target = tmp_path / "run1.safetensors"
    assert await actions.export(name, "safetensors", str(target)) is None
    assert not target.exists()
    assert "was trained on dataset" in actions.state(name).export_message

    # Analyzed again, the weights are this dataset's: run 2 trains and its outputs show.
    assert await dataset.analyze(), dataset.analysis_message
    assert dataset.analysis_stale is None and len(dataset.class_weights()) == 10
    run = await train(training, name)
    assert run.status == "finished" and run.run == 2, run.error
    await actions.predict(name, 0)
    prediction = actions.state(name).prediction
    assert "error" not in prediction and prediction["run"] == 2
    assert models.build_stale(name) is None and models.run_stale(models.latest_run(name)) is None
    assert models.run_stale(models.runs(name)[0]) is not None  # run 1 stays, marked
    rows = [studio.views.summary(name, r) for r in models.runs(name)]
    assert [row["dataset"].endswith(("(other)", "(loaded)")) for row in rows] == [True, True]
    assert rows[0]["dataset"] == f"{short(before)} (other)"
    assert rows[1]["dataset"] == f"{short(after)} (loaded)"


async def test_a_new_training_is_run_2_and_a_kill_before_its_checkpoint_never_resumes_run_1(
    studio,
):
    project, training, pool = studio.project, studio.training, studio.pool
    name = project.model_names()[0]
    quick(project, name, epochs=2)
    run = await train(training, name)
    assert run.status == "finished" and run.run == 1, run.error
    run1_epochs = project.epochs(name, 1)
    run1_best, run1_checkpoint = (project.weights(name, k, 1) for k in ("best", "checkpoint"))
    assert [e["epoch"] for e in run1_epochs] == [1, 2] and run1_checkpoint[0] == 2

    # Run 2: its trainer is killed as it starts getting the dataset, before any epoch.
    trainer = f"modeltrain {name}"
    killed = []

    def kill_at_start(event) -> None:
        starting = event.kind == "progress" and "getting the dataset" in str(event.data["text"])
        if event.worker == trainer and starting and not killed:
            killed.append(True)
            os.kill(pool.running(trainer).process.pid, signal.SIGKILL)

    unsubscribe = studio.manager.subscribe(kill_at_start)
    run = await train(training, name, epochs=50)
    unsubscribe()
    assert killed and run.status == "error" and "SIGKILL" in run.error, run.error
    runs = project.runs(name)
    assert [(r["number"], r["status"]) for r in runs] == [(1, "finished"), (2, "error")]
    assert project.weights(name, "checkpoint", 2) is None and project.epochs(name, 2) == []

    # Resume says it cannot: run 2 has no checkpoint; run 1's is never used.
    with pytest.raises(ModelError, match="cannot resume run 2 .* no checkpoint"):
        await studio.models.train(name, resume=True)
    run = await train(training, name, resume=True)
    assert run.status == "error" and "cannot resume run 2" in run.error, run.error
    assert [r["number"] for r in project.runs(name)] == [1, 2]
    assert project.epochs(name, 2) == []

    # Run 1 is kept whole, in the file as a fresh app reads it.
    reopened = Project.open(project.path)
    assert reopened.epochs(name, 1) == run1_epochs
    assert reopened.weights(name, "best", 1) == run1_best
    assert reopened.weights(name, "checkpoint", 1) == run1_checkpoint
    reopened.close()

    # Train again: run 3, from scratch; deleting the older runs keeps only it.
    run = await train(training, name, epochs=1)
    assert run.status == "finished" and run.run == 3, run.error
    assert [e["epoch"] for e in project.epochs(name)] == [1]
    studio.models.delete_runs(name, keep_latest=True)
    assert [r["number"] for r in project.runs(name)] == [3]
