"""A model's typed document and its pure edits, without workers or a browser."""

import dataclasses

import pytest
import torch

from torchstudio.app.models import definition
from torchstudio.app.models.document import DocumentError, ModelDocument, TrainingSettings
from torchstudio.app.models.service import with_class_weights
from torchstudio.app.models.views import device_names
from torchstudio.model.suggest import suggest_training
from torchstudio.train.settings import TrainSettings

# A document as the app wrote it before the documents were typed: the first loss picked by
# module, the second left "" (to the suggestion), a build from before suggestions named
# their module, and keys this version does not know.
OLD_DOCUMENT = {
    "module": "torchstudio:MNISTClassifier",
    "values": {"hidden": "64"},
    "code": "model = None\n",
    "code_edited": False,
    "settings": {
        "device": "cpu",
        "epochs": 5,
        "early_stop": None,
        "loss": ["loss = 'mine'\n", ""],
        "optimizer": "optimizer = 'mine'\n",
        "future_setting": 3,
    },
    "parts": {
        "loss": [{"module": "torchstudio:CrossEntropy", "values": {}, "edited": False}, {}],
        "optimizer": {"module": "torchstudio:SGD", "values": {"lr": "0.5"}, "edited": True},
    },
    "build": {
        "parameters": {"total": 5},
        "outputs": [{"shape": [1, 10]}, {"shape": [1, 1]}],
        "warnings": [],
        "suggestions": {
            "loss": [
                {"name": "CrossEntropy", "values": {}, "code": "loss = 'first'\n"},
                {"name": "MeanSquareError", "values": {}, "code": "loss = 'second'\n"},
            ],
            "metric": [],
            "optimizer": {"name": "AdamW", "values": {"lr": "0.001"}, "code": "optimizer = 1\n"},
            "scheduler": {"name": "OneCycle", "values": {}, "code": "scheduler = 1\n"},
            "hyperparameters": {"batch_size": 128, "epochs": 20, "early_stop_patience": 4},
        },
        "run": "run 1",
    },
    "status": "finished",
    "training": {"epochs_done": 5},
    "settings_used": {"epochs": 5},
    "closed": False,
    "runs": [{"id": 1}],
}


def demo_document(project) -> ModelDocument:
    return ModelDocument.from_json(project.model(project.model_names()[0]))


def test_old_documents_load_and_keep_what_this_version_does_not_know(project):
    document = ModelDocument.from_json(OLD_DOCUMENT)
    assert document.settings.loss == ("loss = 'mine'\n", None)
    assert document.part("optimizer").values == {"lr": "0.5"} and document.part("optimizer").edited
    written = document.to_json()
    assert written["runs"] == [{"id": 1}] and written["build"]["run"] == "run 1"
    assert written["settings"]["future_setting"] == 3
    assert written["build"]["suggestions"] == OLD_DOCUMENT["build"]["suggestions"]
    assert ModelDocument.from_json(written) == document  # written back, read the same
    # The document the app writes for a new model, and one with almost nothing in it.
    assert demo_document(project).settings.epochs == 5
    assert ModelDocument.from_json({"code": "model = 1\n"}).status == "not built"


@pytest.mark.parametrize(
    "change, field",
    [
        ({"settings": {"batch_size": "64"}}, "settings.batch_size must be a whole number, not str"),
        ({"settings": {"shuffle": 1}}, "settings.shuffle must be true or false, not int"),
        ({"settings": {"epochs": 0}}, "settings.epochs must be at least 1, not 0"),
        ({"settings": {"precision": "fp8"}}, "settings.precision must be one of fp32"),
        ({"settings": {"loss": [3]}}, r"settings.loss\[0\] must be code text, not int"),
        ({"parts": {"loss": [{"values": {"a": 1}}]}}, r"parts.loss\[0\].values.a must be a text"),
        ({"parts": {"lr": {}}}, "parts.lr is not a training part"),
        ({"code": None, "values": []}, "values must be a mapping of parameter texts, not list"),
        (
            {"build": {"suggestions": {"hyperparameters": {"epochs": "20"}}}},
            "build.suggestions.hyperparameters.epochs must be a whole number",
        ),
    ],
)
def test_a_wrongly_typed_field_is_refused_with_its_name(change, field):
    with pytest.raises(DocumentError, match=field):
        ModelDocument.from_json({**OLD_DOCUMENT, **change})


def test_effective_settings_user_then_suggestion_then_the_trainers_default():
    document = ModelDocument.from_json(OLD_DOCUMENT)
    values = document.effective()
    defaults = TrainSettings()
    assert values["epochs"] == 5 and not values.is_suggested("epochs")  # the user's
    assert values["batch_size"] == 128 and values.is_suggested("batch_size")
    assert values["precision"] == defaults.precision and values["seed"] == defaults.seed
    assert values["loss"] == ["loss = 'mine'\n", "loss = 'second'\n"]
    assert not values.is_suggested("loss", 0) and values.is_suggested("loss", 1)
    assert (
        values["optimizer"] == "optimizer = 'mine'\n" and values["scheduler"] == "scheduler = 1\n"
    )
    assert values.suggested == {"batch_size", "loss:1", "scheduler"}
    trainer = values.trainer_settings(["input", "output"], epochs=2, device=None)
    assert trainer["epochs"] == 2 and trainer["device"] == "cpu"  # an override, and not one
    assert (trainer["input_ids"], trainer["output_ids"]) == ([0], [1])
    assert "server" not in trainer and "class_weights" not in trainer
    TrainSettings.from_json(trainer).validate()  # the trainer takes it as it is
    # Without a build: the trainer's defaults, nothing suggested.
    bare = TrainingSettings().effective()
    assert (bare["batch_size"], bare["epochs"]) == (defaults.batch_size, defaults.epochs)
    assert bare["optimizer"] == defaults.optimizer and bare.suggested == frozenset()
    # The user's "no scheduler" is kept over the suggested one.
    none = dataclasses.replace(document.settings, scheduler="")
    assert none.effective(document.suggestions)["scheduler"] == ""


def test_duplicate_rename_parameters_and_code(project, catalog):
    document = definition.set_setting(demo_document(project), "batch_size", 32)
    document = dataclasses.replace(document, status="built", training={"epochs_done": 1})
    copy = definition.duplicate(document)
    assert copy.settings.batch_size == 32 and copy.status == "not built"
    assert copy.build is None and copy.training is None
    assert definition.clean_name("  small  ") == "small"
    with pytest.raises(ValueError, match="a model needs a name"):
        definition.clean_name(" ")
    info = catalog.find("models", copy.module)
    copy, error = definition.set_value(copy, info, "hidden", "64")
    assert error == "" and "hidden=64" in copy.code
    kept, error = definition.set_value(copy, info, "hidden", "64 +")
    assert error and kept == copy  # the last valid code stays
    edited = definition.set_code(copy, "model = None\n")
    assert edited.code_edited and edited.status == "not built"
    with pytest.raises(DocumentError, match="settings.shuffle must be true or false"):
        definition.set_setting(copy, "shuffle", "yes")


def test_settings_text():
    assert definition.parse_setting("epochs", "3") == 3
    assert definition.parse_setting("early_stop", "") is None
    assert definition.parse_setting("seed", "0") == 0
    with pytest.raises(ValueError):
        definition.parse_setting("batch_size", "0")
    with pytest.raises(ValueError):
        definition.parse_setting("precision", "fp8")


def built(document: ModelDocument, train_count: int = 1438) -> ModelDocument:
    """`document` with the build the demo's Digits get: real suggestions."""
    suggestions = suggest_training(
        [torch.rand(1, 1, 8, 8)], [torch.tensor([3])], [torch.rand(1, 10)], train_count
    )
    build = {"outputs": [{"shape": [1, 10]}], "suggestions": suggestions}
    return ModelDocument.from_json({**document.to_json(), "build": build})


def test_a_suggestion_fills_only_what_the_user_left_empty(project):
    document = built(demo_document(project))
    values = document.effective()
    assert values.is_suggested("batch_size") and values["batch_size"] == 128
    typed = definition.set_setting(document, "batch_size", 64)
    assert built(typed).effective()["batch_size"] == 64  # a new build keeps the user's
    assert not built(typed).effective().is_suggested("batch_size")
    accepted = definition.accept_suggestion(document, "batch_size")
    assert accepted.settings.batch_size == 128 and not accepted.effective().is_suggested(
        "batch_size"
    )
    # A suggested part shows its module and values, marked as suggested, until accepted.
    choice, suggested = document.shown_part("scheduler")
    assert suggested and choice.module == "torchstudio:OneCycle"
    assert choice.values == {"epochs": "epochs", "steps_per_epoch": "steps_per_epoch"}
    accepted = definition.accept_suggestion(document, "scheduler")
    assert accepted.shown_part("scheduler") == (choice, False)
    assert accepted.settings.scheduler == document.effective()["scheduler"]
    # Typing over a suggested part's code makes it the user's, marked as edited.
    typed = definition.set_part_code(document, "loss", "loss = 'mine'\n")
    assert typed.shown_part("loss")[1] is False and typed.part("loss").edited
    assert typed.effective()["loss"] == ["loss = 'mine'\n"]


def test_picking_one_cycle_again_keeps_epochs_steps_and_typed_values(project, catalog):
    document = built(demo_document(project))
    step = definition.choose_part(document, catalog, "scheduler", "torchstudio:Step")
    again = definition.choose_part(step, catalog, "scheduler", "torchstudio:OneCycle")
    code = again.effective()["scheduler"]
    assert "OneCycle(optimizer, epochs=epochs, steps_per_epoch=steps_per_epoch)" in code
    assert not again.effective().is_suggested("scheduler")
    # A value the user typed for a parameter of the same name stays with the new module.
    sgd = definition.choose_part(document, catalog, "optimizer", "torchstudio:SGD")
    sgd, error = definition.set_part_value(sgd, catalog, "optimizer", "lr", "0.5")
    adamw = definition.choose_part(sgd, catalog, "optimizer", "torchstudio:AdamW")
    assert error == "" and "lr=0.5" in adamw.effective()["optimizer"]
    assert adamw.part("optimizer").values == {"lr": "0.5"}
    # Editing a parameter of the suggested optimizer makes it the user's, from its values.
    mine, error = definition.set_part_value(document, catalog, "optimizer", "lr", "0.003")
    assert error == "" and mine.part("optimizer").module == "torchstudio:AdamW"
    assert "lr=0.003" in mine.effective()["optimizer"]


def test_losses_per_output_and_devices(project, catalog):
    document = demo_document(project)
    document = definition.choose_part(document, catalog, "loss", "torchstudio:CrossEntropy", 1)
    assert document.settings.loss == (None, document.settings.loss[1])
    assert document.effective()["loss"][1].endswith("loss = CrossEntropy()\n")
    assert document.to_json()["parts"]["loss"][0] == {}
    report = {"cuda": [{"index": 0}, {"index": 1}], "mps": False}
    assert device_names(report) == ["cpu", "cuda:0", "cuda:1"]


def test_class_weights_reach_the_loss():
    code = "from torchstudio.loss.cross_entropy import CrossEntropy\n\nloss = CrossEntropy()\n"
    namespace: dict = {}
    exec(with_class_weights(code, [1.0, 2.5]), namespace)  # noqa: S102 - our own chunk
    assert namespace["loss"].weight.tolist() == [1.0, 2.5]
