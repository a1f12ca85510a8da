"""Interpretation and the learning-rate finder in the app, on real workers and the demo."""

import json

import pytest
from tests.helpers.server import run_torchstudio

from torchstudio.app.models.probing import INTERPRETATION
from torchstudio.app.models.service import ModelError

pytestmark = [pytest.mark.timeout(240), pytest.mark.slow]


async def test_interpret_a_run_keep_it_and_find_a_learning_rate(studio):
    project, probes = studio.project, studio.probes
    name = project.model_names()[0]
    with pytest.raises(ModelError, match="train the model first"):
        await probes.interpret(name)
    project.update_model(name, settings={**project.model(name)["settings"], "epochs": 1})
    studio.training.start(name)
    assert (await studio.training.wait(name)).status == "finished"

    report = await probes.interpret(name)
    assert report["kind"] == "classification" and report["split"] == "valid"
    assert report["count"] == studio.dataset.split_count("valid")
    assert report["classes"] == [str(c) for c in range(10)]
    best = max(project.epochs(name), key=lambda e: e["valid_metric"])
    # The same weights over the same split: the run's best accuracy, and its loss.
    assert report["accuracy"] == pytest.approx(best["valid_metric"], abs=1e-4)
    assert sum(report["loss"]) / report["count"] == pytest.approx(best["valid_loss"], rel=1e-3)
    assert sum(map(sum, report["confusion"])) == report["count"]
    assert probes.job(name, "interpret").status == "done"

    kept = probes.interpretation(name)  # as a page reads it after a reload
    assert kept["confusion"] == report["confusion"] and kept["stale"] is None
    assert kept["run"] == 1 and kept["epoch"] == project.weights(name, "best")[0]
    project.set_weights(name, 1, "best", 99, project.weights(name, "best")[1])
    assert "best weights changed" in probes.interpretation(name)["stale"]

    runs, weights = project.runs(name), project.weights(name, "best")
    curve = await probes.find_lr(name, steps=25)
    assert len(curve["lrs"]) == len(curve["smoothed"]) and 10 < len(curve["lrs"]) <= 25
    assert curve["suggestion"] is not None and 1e-7 < curve["suggestion"] < 10
    assert probes.curves[name] is curve
    assert project.runs(name) == runs and project.weights(name, "best") == weights
    assert probes.use_lr(name, 0.00123) == ""
    assert "lr=0.00123" in studio.models.effective(name)["optimizer"]
    assert project.weights(name, INTERPRETATION, 1) is not None

    # Headless, on the same project file (the app keeps it open: SQLite lets both in).
    home = studio.project.path.parent / "home"
    path = str(project.path)
    refused = run_torchstudio("lr-find", path, "--model", name, "--steps", "2", home=home)
    assert refused.returncode == 2 and "--steps must be at least 5" in refused.stderr
    done = run_torchstudio("interpret", path, "--model", name, home=home)
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert printed["model"] == name and printed["confusion"] == report["confusion"]
    assert printed["top_losses"] == report["top_losses"] and len(printed["top_losses"]) == 30
    assert "loss" not in printed and "predicted" not in printed  # no per-sample lists
    assert {"precision", "recall", "f1", "support"} <= set(printed["per_class"][0])
