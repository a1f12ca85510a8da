"""Runs mirrored to TensorBoard and MLflow (trackers.py): the targets checked, what a run
writes read back with TensorBoard's event accumulator and MlflowClient, from the mirrors
alone and from one real `torchstudio run --log`."""

import json
from pathlib import Path

import pytest
import safetensors.torch
import torch
from tests.helpers.server import new_project, run_torchstudio

from torchstudio.app.models import definition, trackers
from torchstudio.app.models.document import DocumentError, TrainingSettings
from torchstudio.app.store.project import Project

tensorboard = pytest.importorskip("tensorboard")
mlflow = pytest.importorskip("mlflow")
from mlflow.tracking import MlflowClient  # noqa: E402
from tensorboard.backend.event_processing.event_accumulator import (  # noqa: E402
    EventAccumulator,
)

WEIGHTS = safetensors.torch.save({"w": torch.ones(2)})


def scalars(folder) -> dict[str, list[tuple[int, float]]]:
    events = EventAccumulator(str(folder))
    events.Reload()
    return {
        tag: [(e.step, round(e.value, 6)) for e in events.Scalars(tag)]
        for tag in events.Tags()["scalars"]
    }


def mlflow_run(folder, experiment: str):
    """The one run of `experiment` in the mlruns store `folder`, and a client to read it."""
    client = MlflowClient(tracking_uri=trackers.mlflow_uri(str(folder), folder))
    found = client.get_experiment_by_name(experiment)
    (run,) = client.search_runs([found.experiment_id])
    return client, run


def test_targets_are_checked_and_a_missing_package_says_how_to_install(monkeypatch):
    assert definition.parse_setting("log", "tensorboard:runs, mlflow:mlruns") == [
        "tensorboard:runs",
        "mlflow:mlruns",
    ]
    with pytest.raises(ValueError, match="give tensorboard:FOLDER or mlflow:URI"):
        definition.parse_setting("log", "wandb:x")
    with pytest.raises(DocumentError, match=r"settings.log\[0\]: log target 'tb'"):
        TrainingSettings.from_json({"log": ["tb"]})
    assert TrainingSettings.from_json({"log": ["mlflow:m"]}).to_json() == {"log": ["mlflow:m"]}
    assert TrainingSettings().effective()["log"] == ()
    monkeypatch.setattr(trackers.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ValueError, match=r"pip install 'torchstudio\[mlflow\]'"):
        definition.parse_setting("log", "mlflow:mlruns")


def test_the_mirrors_write_settings_epochs_and_best_weights(tmp_path):
    mirrors = trackers.open_mirrors(
        ["tensorboard:tb", "mlflow:mlruns"], tmp_path, "proj", "Net", 2, "fast",
        {"batch_size": 8, "loss": ["loss = 1\n"]},
    )  # fmt: skip
    for epoch in (1, 2):
        record = {"epoch": epoch, "train_loss": 1.0 / epoch, "valid_loss": 2.0 / epoch,
                  "train_metric": None, "valid_metric": 0.5, "lr": 0.1}  # fmt: skip
        mirrors.epoch(record)
    mirrors.best(2, WEIGHTS)
    mirrors.finish("finished")
    assert not mirrors.errors
    folder = tmp_path / "tb" / "Net" / "run-2-fast"
    assert scalars(folder)["loss/train"] == [(1, 1.0), (2, 0.5)]
    assert "metric/train" not in scalars(folder)
    assert (folder / "best.safetensors").read_bytes() == WEIGHTS
    client, run = mlflow_run(tmp_path / "mlruns", "proj")
    assert run.info.run_name == "Net run 2 (fast)" and run.info.status == "FINISHED"
    assert run.data.params["batch_size"] == "8" and run.data.tags["best_epoch"] == "2"
    history = client.get_metric_history(run.info.run_id, "valid_loss")
    assert [(m.step, m.value) for m in history] == [(1, 2.0), (2, 1.0)]
    assert [a.path for a in client.list_artifacts(run.info.run_id)] == ["best.safetensors"]


def test_a_failing_mirror_is_closed_and_named():
    class Broken:
        def epoch(self, record):
            raise OSError("disk full")

        def finish(self, status):
            pass

    mirrors = trackers.Mirrors([Broken()])
    mirrors.epoch({"epoch": 1})
    mirrors.epoch({"epoch": 2})
    assert mirrors.errors == ["Broken: disk full"] and not mirrors.mirrors


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_run_mirrors_to_tensorboard_and_mlflow(tmp_path):
    home = tmp_path / "home"
    project = new_project(tmp_path / "demo.tsproj", home)
    done = run_torchstudio(
        "run", str(project), "--epochs", "1", "--log", "tensorboard:tb", "--log",
        "mlflow:mlruns", "--run-name", "first", home=home, timeout=200,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    epoch = json.loads(done.stdout.splitlines()[0])
    folder = tmp_path / "tb" / "MNISTClassifier" / "run-1-first"
    assert scalars(folder)["loss/train"] == [(1, round(epoch["train_loss"], 6))]
    client, run = mlflow_run(tmp_path / "mlruns", "demo")
    assert run.info.run_name == "MNISTClassifier run 1 (first)"
    assert run.data.metrics["valid_metric"] == pytest.approx(epoch["valid_metric"])
    assert run.data.params["epochs"] == "1"
    stored = Project.open(project)
    _, best = stored.weights("MNISTClassifier", "best")
    stored.close()
    assert (folder / "best.safetensors").read_bytes() == best
    artifact = client.download_artifacts(run.info.run_id, "best.safetensors", str(tmp_path))
    assert Path(artifact).read_bytes() == best
