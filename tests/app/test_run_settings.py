"""`torchstudio run`'s settings (--set, --config) as pure edits of a model's document, and
one real run of the demo: the settings used, the run name, --resume, and every JSON line
checked against the documented schema (docs/run.schema.json)."""

import json
from pathlib import Path

import jsonschema
import pytest
from tests.helpers.server import new_project, run_torchstudio

from torchstudio.app.models import definition
from torchstudio.app.models.document import ModelDocument
from torchstudio.app.models.overrides import (
    OverrideError,
    check_resumable,
    parse_config,
    parse_set,
)
from torchstudio.app.models.overrides import apply as apply_settings
from torchstudio.app.store.project import Project

SCHEMA = json.loads((Path(__file__).parents[2] / "docs" / "run.schema.json").read_text())


@pytest.fixture
def document(catalog):
    """The demo model with its optimizer picked as a module (as a build suggests it)."""
    plain = ModelDocument(code="model = None\n")
    return definition.choose_part(plain, catalog, "optimizer", "torchstudio:SGD")


def test_settings_reach_the_effective_settings(document, catalog):
    config = parse_config(
        'batch_size = 32\nprecision = "bf16"\nshuffle = false\n\n[optimizer]\nmomentum = 0.5\n',
        "run.toml",
    )
    given = [*config, parse_set("learning_rate=0.25"), parse_set("seed=7")]
    given.append(parse_set("epochs=3", "--epochs 3"))
    effective = apply_settings(document, catalog, given).effective()
    assert (effective["batch_size"], effective["precision"], effective["shuffle"]) == (
        32,
        "bf16",
        False,
    )
    assert (effective["seed"], effective["epochs"]) == (7, 3)
    assert "lr=0.25" in effective["optimizer"] and "momentum=0.5" in effective["optimizer"]
    assert config[0].origin == "run.toml line 1" and config[-1].origin == "run.toml line 6"
    assert document.settings.batch_size is None  # the document given is left as it was
    assert effective["compile"] == "auto"  # the trainer's default, sent to it
    assert effective.trainer_settings(["input", "target"])["compile"] == "auto"
    given = [parse_set("compile=torchscript"), parse_set("checkpoint_every=5")]
    compiled = apply_settings(document, catalog, given).effective()
    sent = compiled.trainer_settings(["input", "target"])
    assert (sent["compile"], sent["checkpoint_every"]) == ("torchscript", 5)
    compiled = apply_settings(document, catalog, given)
    assert compiled.settings.to_json()["compile"] == "torchscript"


@pytest.mark.parametrize(
    ("given", "says"),
    [
        (lambda: [parse_set("batch=3")], "--set batch=3: unknown setting 'batch' (did you mean"),
        (lambda: [parse_set("epochs")], "--set epochs: give KEY=VALUE"),
        (lambda: [parse_set("batch_size=0")], "--set batch_size=0: batch_size must be at least 1"),
        (lambda: [parse_set("seed=x")], "--set seed=x: seed must be a whole number, not 'x'"),
        (lambda: [parse_set("precision=fp8")], "precision must be one of fp32, tf32, fp16, bf16"),
        (lambda: [parse_set("compile=fast")], "compile must be one of auto, off, torchscript"),
        (lambda: [parse_set("checkpoint_every=0")], "checkpoint_every must be at least 1"),
        (lambda: [parse_set("shuffle=maybe")], "shuffle must be true or false, not 'maybe'"),
        (lambda: [parse_set("lr=abc")], "--set lr=abc: optimizer.lr must be a Python value"),
        (lambda: [parse_set("optimizer.lrr=1")], "SGD has no parameter named 'lrr'"),
        (lambda: [parse_set("scheduler.gamma=0.5")], "scheduler has no module to set"),
        (lambda: parse_config("epochs = 2\nseed = 'x'\n", "r.toml"), "r.toml line 2: seed must"),
        (lambda: parse_config("epochs = 2\nseed =\n", "r.toml"), "r.toml: not valid TOML: "),
        (lambda: parse_config("[loss]\nx = 1\n", "r.toml"), "r.toml line 2: unknown setting"),
    ],
)
def test_a_refused_setting_names_itself_and_where_it_was_given(document, catalog, given, says):
    with pytest.raises(OverrideError) as refused:
        apply_settings(document, catalog, given())
    assert says in str(refused.value)


def test_the_model_forms_parameters_are_settings_too(catalog):
    info = catalog.find_name("models", "MNISTClassifier")
    form = definition.choose_module(ModelDocument(), info)
    given = [parse_set("model.dropout=0.5"), *parse_config("[model]\nchannels = 16\n", "f")]
    changed = apply_settings(form, catalog, given)
    assert changed.values == {"dropout": "0.5", "channels": "16"}
    assert "dropout=0.5" in changed.code and "channels=16" in changed.code
    with pytest.raises(OverrideError, match="MNISTClassifier has no parameter 'colour'"):
        apply_settings(form, catalog, [parse_set("model.colour=1")])
    typed = definition.set_code(form, form.code + "# mine\n")  # code edited by hand: no form
    with pytest.raises(OverrideError, match="no module form"):
        apply_settings(typed, catalog, [parse_set("model.dropout=0.5")])


def test_resume_takes_only_what_a_run_may_change():
    check_resumable([parse_set("epochs=9"), parse_set("device=cpu"), parse_set("compile=off")])
    with pytest.raises(OverrideError, match="--set batch_size=8: --resume continues the run"):
        check_resumable([parse_set("epochs=9"), parse_set("batch_size=8")])


def lines_of(done) -> list[dict]:
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    for line in lines:
        jsonschema.validate(line, SCHEMA)  # every field documented, none missing
    return lines


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_run_with_settings_a_name_then_resume(tmp_path):
    home = tmp_path / "home"
    project = new_project(tmp_path / "demo.tsproj", home)
    config = tmp_path / "run.toml"
    config.write_text("batch_size = 32\nseed = 3\n\n[optimizer]\nlr = 0.002\n")
    first = run_torchstudio(
        "run", str(project), "--config", str(config), "--set", "precision=fp32",
        "--run-name", "first", "--epochs", "1", "--device", "cpu", home=home, timeout=200,
    )  # fmt: skip
    lines = lines_of(first)
    assert [(x["model"], x["run"], x["epoch"], x["run_name"]) for x in lines[:-1]] == [
        ("MNISTClassifier", 1, 1, "first")
    ]
    assert lines[0]["train_loss"] > 0 and lines[-1]["summary"][0]["epochs"] == 1
    stored = Project.open(project)
    used = stored.run("MNISTClassifier")["settings"]
    assert (used["batch_size"], used["seed"], used["precision"], used["epochs"]) == (
        32,
        3,
        "fp32",
        1,
    )
    assert "lr=0.002" in used["optimizer"]
    # The settings were for that run: the model's own are as they were.
    assert stored.model("MNISTClassifier")["settings"] == {"device": "cpu", "epochs": 5}
    assert stored.weights("MNISTClassifier", "best")[0] == 1
    stored.close()

    resumed = lines_of(
        run_torchstudio(
            "run", str(project), "--resume", "--set", "epochs=2", home=home, timeout=200
        )  # fmt: skip
    )
    assert [(x["run"], x["epoch"], x["run_name"]) for x in resumed[:-1]] == [(1, 2, "first")]
    assert resumed[-1]["summary"][0]["epochs"] == 2
    stored = Project.open(project)
    assert [r["number"] for r in stored.runs("MNISTClassifier")] == [1]
    assert [e["epoch"] for e in stored.epochs("MNISTClassifier")] == [1, 2]
    assert stored.run("MNISTClassifier")["settings"]["batch_size"] == 32  # its own, kept
    assert stored.run("MNISTClassifier")["summary"]["name"] == "first"
    stored.close()

    refused = run_torchstudio("run", str(project), "--set", "batch_size=0", home=home)
    assert refused.returncode == 2 and refused.stdout == ""
    assert "--set batch_size=0: batch_size must be at least 1, not 0" in refused.stderr
    unknown = run_torchstudio("run", str(project), "--model", "nope", home=home)
    assert unknown.returncode == 2 and "no model" in unknown.stderr


def test_schema_refuses_an_undocumented_field():
    line = {
        "model": "m", "run": 1, "run_name": None, "epoch": 1, "train_loss": 0.5,
        "valid_loss": None, "train_metric": None, "valid_metric": None, "lr": 0.1, "seconds": 1.0,
    }  # fmt: skip
    jsonschema.validate(line, SCHEMA)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**line, "surprise": 1}, SCHEMA)
