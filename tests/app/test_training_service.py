"""Trainings in the app against real workers: start, stop, resume, start all, errors."""

import asyncio
import threading

import pytest
from tests.helpers.waiting import eventually

from torchstudio.app.runtime.manager import WorkerHandle
from torchstudio.worker import PROGRESS

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]


async def test_train_stop_and_resume_keep_every_epoch(studio):
    project, training = studio.project, studio.training
    name = project.model_names()[0]
    project.update_model(name, settings={**project.model(name)["settings"], "epochs": 4})
    training.start(name)
    await eventually(
        lambda: training.run(name).epoch >= 1,
        timeout=60,
        what="a first epoch",
        changes=studio.changes,
        topics=["training"],
    )
    await training.stop(name)
    run = await training.wait(name)
    assert run.status == "stopped", run.message
    stopped_at = run.epoch
    assert 1 <= stopped_at < 4
    assert project.weights(name, "checkpoint")[0] == stopped_at
    assert project.weights(name, "best") is not None
    assert [e["epoch"] for e in project.epochs(name)] == list(range(1, stopped_at + 1))

    training.start(name, resume=True)
    run = await training.wait(name)
    assert run.status == "finished", run.message
    assert run.run == 1 and [r["number"] for r in project.runs(name)] == [1]  # the same run
    assert project.run(name)["status"] == "finished"
    epochs = project.epochs(name)
    assert [e["epoch"] for e in epochs] == list(range(1, 5))
    assert epochs[-1]["valid_metric"] > 0.5  # ten classes: chance is 0.1
    assert project.model(name)["status"] == "finished"
    assert run.samples_per_s and run.samples_per_s > 0


async def test_weights_are_stored_beside_the_loop_while_epochs_go_on(studio):
    # A slow disk: every store of weights waits until the second epoch has been recorded,
    # which the app can only do if the stores leave its event loop free.
    project, training = studio.project, studio.training
    name = project.model_names()[0]
    project.update_model(name, settings={**project.model(name)["settings"], "epochs": 2})
    second_epoch = threading.Event()
    stored: list[tuple[str, int]] = []
    set_weights = project.set_weights

    def slow_set_weights(model, run, kind, epoch, data):
        assert second_epoch.wait(timeout=30), "the loop waited for a store of weights"
        set_weights(model, run, kind, epoch, data)
        stored.append((kind, epoch))

    project.set_weights = slow_set_weights
    training.start(name)
    await eventually(
        lambda: training.run(name).epoch >= 2,
        timeout=60,
        what="the second epoch, recorded while the first's weights wait",
        changes=studio.changes,
        topics=["training"],
    )
    assert stored == []
    second_epoch.set()
    run = await training.wait(name)
    assert run.status == "finished", run.message
    assert ("checkpoint", 2) in stored and project.weights(name, "checkpoint")[0] == 2


async def test_start_all_trains_models_in_parallel_and_errors_are_kept(studio):
    project, training = studio.project, studio.training
    name = project.model_names()[0]
    assert await studio.dataset.analyze(), studio.dataset.analysis_message
    settings = {**project.model(name)["settings"], "epochs": 2, "class_weights": True}
    project.update_model(name, settings=settings)
    second = studio.models.duplicate(name)
    broken = studio.models.duplicate(name, "broken")
    project.update_model(broken, code="import torch\nmodel = torch.nn.Linear(3, 2)\n")
    assert set(training.start_all()) == {name, second, broken}
    assert len([n for n in (name, second) if training.running(n)]) == 2
    runs = {n: await training.wait(n) for n in (name, second, broken)}
    assert runs[name].status == runs[second].status == "finished"
    # The run's settings snapshot is what the trainer got: the loss with the class weights.
    assert "loss.weight = _torch.tensor([" in project.run(name)["settings"]["loss"][0]
    assert len(project.epochs(second)) == 2
    assert runs[broken].status == "error"
    assert "shape" in runs[broken].error.lower() or "size" in runs[broken].error.lower()


def points(option: dict) -> int:
    return max((len(s.get("data") or []) for s in option.get("series") or []), default=0)


async def test_views_graph_curves_prediction_and_exports(studio, tmp_path):
    project, training, views = studio.project, studio.training, studio.views
    name = project.model_names()[0]
    project.update_model(name, settings={**project.model(name)["settings"], "epochs": 2})
    assert await studio.actions.build(name)  # as the Build button does
    report = project.model(name)["build"]
    assert report["parameters"]["total"] > 1000
    assert views.graph_levels(name) >= 1
    svg = await views.graph_svg(name, 1)
    assert svg.lstrip().startswith("<") and "svg" in svg[:200]
    charted = asyncio.Event()  # the curves drawn once, for every page, after each epoch

    def on_charts(change) -> None:
        series = studio.charts.curves.get(name)
        if change.model == name and series and points(series["loss"]) == 2:
            charted.set()

    studio.changes.subscribe(["charts"], on_charts)
    studio.charts.want(name)  # a page shows the model's curves
    await training.wait(name) if training.start(name) else None
    await asyncio.wait_for(charted.wait(), 60)
    series = await views.curves([name])
    assert "loss" in series and "metric" in series
    assert studio.charts.curves[name] == series  # what the pages show, without asking again
    assert views.summary(name)["epochs"] == 2
    prediction = await views.predict(name, 0)
    assert prediction["outputs"][0]["predicted"] in [str(i) for i in range(10)]
    for fmt in ("safetensors", "onnx"):
        path = tmp_path / f"model.{fmt}"
        result = await studio.actions.export(name, fmt, str(path))
        assert path.stat().st_size > 1000 and result["max_difference"] < 1e-4
    # The log says what the user did and what came of it, in one line each.
    said = [line for _, source, line in studio.log.lines if source == "app"]
    assert f"built {name}: {report['parameters']['total']:,} parameters" in said
    assert f"training {name} (2 epochs)" in said
    assert any(line.startswith(f"{name} run 1 finished: best valid metric") for line in said)
    exported = [line for line in said if line.startswith(f"exported {name} run 1 as onnx")]
    assert exported and str(tmp_path / "model.onnx") in exported[0] and "kB" in exported[0]
    axes = (await views.parameters_plot([name]))["axes"]
    assert any(a["name"] == "parameters" for a in axes)


async def test_a_training_cut_off_with_the_app_reads_as_stopped(studio):
    name = studio.project.model_names()[0]
    studio.project.update_model(name, status="training")
    await studio.open(studio.project.path)
    assert studio.project.model(name)["status"] == "stopped"


async def test_progress_from_a_trainer_reported_not_responding_shows_it_training_again(studio):
    # A slow start, as the manager sees it: the trainer is judged stuck, then its progress comes.
    name = studio.project.model_names()[0]
    manager = studio.manager
    handle = WorkerHandle(f"modeltrain {name}", "modeltrain", None, "", manager)
    handle.heartbeats = 1
    run = studio.training.run(name)
    run.status = "training"
    stalled = "not responding: busy in train for 4 s without progress"
    manager._judge_responding(handle, stalled)
    assert (run.status, run.message) == ("not responding", stalled)
    manager._route(handle, PROGRESS, {"fraction": 0.1, "text": "caching"})
    assert handle.responding and (run.status, run.message) == ("training", "caching")


async def test_training_after_a_code_change_trains_the_new_code(studio):
    project, models = studio.project, studio.models
    name = project.model_names()[0]
    project.update_model(name, settings={**project.model(name)["settings"], "epochs": 1})
    first = (await models.build(name))["parameters"]["total"]
    assert models.is_built(name)
    code = project.model(name)["code"]
    # The same model with one more layer: the build kept in memory is now out of date.
    changed = code + "\nmodel = torch.nn.Sequential(model, torch.nn.Linear(10, 10))\n"
    project.update_model(name, code="import torch\n" + changed)
    assert not models.is_built(name)
    run = await studio.training.wait(name) if studio.training.start(name) else None
    assert run is not None and run.status == "finished", run and run.error
    assert project.model(name)["build"]["parameters"]["total"] == first + 110
    assert models.is_built(name)


async def test_the_optimizers_lr_is_the_peak_and_a_typed_batch_size_survives_build(studio):
    models, training, project = studio.models, studio.training, studio.project
    name = project.model_names()[0]
    models.set_setting(name, "batch_size", "64")
    models.set_setting(name, "epochs", "2")
    await models.build(name)
    values = models.effective(name)
    suggested = project.model(name)["build"]["suggestions"]["hyperparameters"]["batch_size"]
    assert suggested != 64 and values["batch_size"] == 64  # the user's, not the suggestion
    assert not values.is_suggested("batch_size") and values.is_suggested("scheduler")
    # The suggested OneCycle peaks at the optimizer's learning rate: the one the user sets.
    assert models.set_part_value(name, "optimizer", "lr", "0.002") == ""
    training.start(name)
    run = await training.wait(name)
    assert run.status == "finished", run.error
    used = project.run(name)["settings"]  # the snapshot of what the run trained with
    assert used["batch_size"] == 64 and "lr=0.002" in used["optimizer"]
    assert "OneCycle(" in used["scheduler"] and "max_lr" not in used["scheduler"]
    rates = [e["lr"] for e in project.epochs(name)]
    assert len(rates) == 2 and max(rates) <= 0.002 * (1 + 1e-9)
    assert rates[0] > 0.001  # near the peak after the warm-up: the schedule follows the lr
