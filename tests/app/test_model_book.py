"""The Model tabs' edits on the project, without workers or a browser."""

import pytest

from torchstudio.app.models import definition as model_book
from torchstudio.app.models.service import with_class_weights
from torchstudio.app.models.views import device_names


def test_duplicate_rename_and_parameters(project, catalog):
    name = project.model_names()[0]
    model_book.set_setting(project, name, "batch_size", 32)
    project.update_model(name, build={"parameters": {"total": 5}}, status="built")
    copy = model_book.duplicate_model(project, name)
    assert copy == f"{name} 2"
    document = project.model(copy)
    assert document["settings"]["batch_size"] == 32 and document["status"] == "not built"
    assert document["build"] is None
    assert model_book.rename_model(project, copy, "  small  ") == "small"
    with pytest.raises(ValueError):
        model_book.rename_model(project, "small", " ")
    assert model_book.set_value(project, catalog, "small", "hidden", "64") == ""
    assert "hidden=64" in project.model("small")["code"]
    assert model_book.set_value(project, catalog, "small", "hidden", "64 +") != ""
    assert "hidden=64" in project.model("small")["code"]  # the last valid code stays
    model_book.set_code(project, "small", "model = None\n")
    assert project.model("small")["code_edited"] is True


def test_settings_text_and_suggestions(project):
    assert model_book.parse_setting("epochs", "3") == 3
    assert model_book.parse_setting("early_stop", "") is None
    with pytest.raises(ValueError):
        model_book.parse_setting("batch_size", "0")
    with pytest.raises(ValueError):
        model_book.parse_setting("precision", "fp8")
    name = project.model_names()[0]
    suggestions = {
        "hyperparameters": {"epochs": 7, "batch_size": 16},
        "loss": [{"code": "loss = 1"}],
        "metric": [],
        "optimizer": {"code": "optimizer = 2"},
    }
    project.update_model(name, build={"suggestions": suggestions}, settings={"epochs": 3})
    settings = model_book.effective_settings(project.model(name))
    assert settings["epochs"] == 3 and settings["batch_size"] == 16
    assert settings["loss"] == ["loss = 1"] and settings["optimizer"] == "optimizer = 2"


def test_parts_and_devices(project, catalog):
    name = project.model_names()[0]
    code = model_book.choose_part(project, catalog, name, "optimizer", "torchstudio:SGD")
    assert "optimizer = SGD(model.parameters())" in code
    assert model_book.set_part_value(project, catalog, name, "optimizer", "lr", "0.5") == ""
    assert "lr=0.5" in project.model(name)["settings"]["optimizer"]
    model_book.choose_part(project, catalog, name, "loss", "torchstudio:CrossEntropy")
    assert project.model(name)["settings"]["loss"][0].endswith("loss = CrossEntropy()\n")
    report = {"cuda": [{"index": 0}, {"index": 1}], "mps": False}
    assert device_names(report) == ["cpu", "cuda:0", "cuda:1"]


def test_class_weights_reach_the_loss():
    code = "from torchstudio.loss.cross_entropy import CrossEntropy\n\nloss = CrossEntropy()\n"
    namespace: dict = {}
    exec(with_class_weights(code, [1.0, 2.5]), namespace)  # noqa: S102 - our own chunk
    assert namespace["loss"].weight.tolist() == [1.0, 2.5]
