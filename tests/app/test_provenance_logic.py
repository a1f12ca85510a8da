"""The pure side of provenance: the typed dataset definition's fingerprints, and runs."""

from tests.app.test_project import DATASET

from torchstudio.app.dataset.definition import (
    DatasetDefinition,
    analysis_fingerprint_of,
    analysis_stale_reason,
)
from torchstudio.app.models.runs import Run, diff_line, key_settings, settings_diff


def test_an_older_document_reads_and_writes_back_with_defaults_filled():
    definition = DatasetDefinition.from_json(DATASET)  # written before the typed class
    assert definition.roles == ["input", "output"] and definition.code.startswith("from")
    assert definition.settings["seed"] == 0 and definition.settings["usage_ratio"] == 0.5
    assert definition.module is None  # an old {kind, name} module entry is not a key
    again = DatasetDefinition.from_json(definition.to_json())
    assert again == definition
    assert DatasetDefinition.from_json(None) == DatasetDefinition()


def test_fingerprints_follow_what_each_result_depends_on():
    base = DatasetDefinition.from_json(DATASET)
    same = DatasetDefinition.from_json(DATASET)
    assert base.data_fingerprint() == same.data_fingerprint() and len(base.fingerprint()) == 16
    resplit = base.copy()
    resplit.settings["seed"] = 1
    assert resplit.data_fingerprint() != base.data_fingerprint()
    # Roles do not change the load, they change what builds, runs and analyses use.
    roles = base.copy()
    roles.roles = ["output", "input"]
    assert roles.data_fingerprint() == base.data_fingerprint()
    assert roles.fingerprint() != base.fingerprint()
    # Renderers change neither: they only draw.
    drawn = base.copy()
    drawn.renderers = []
    assert drawn.fingerprint() == base.fingerprint()


def test_an_analysis_is_stale_when_its_dataset_or_analyzer_changed():
    made = analysis_fingerprint_of("dataset-a", "analyzer = A()")
    analysis = {"weights": [1.0], "fingerprint": made, "dataset": "dataset-a"}
    assert analysis_stale_reason(analysis, made) is None
    assert analysis_stale_reason(None, made) is None
    other = analysis_fingerprint_of("dataset-b", "analyzer = A()")
    assert "the dataset or analyzer changed" in analysis_stale_reason(analysis, other)
    assert "does not record" in analysis_stale_reason({"weights": [1.0]}, other)


def test_runs_say_why_they_are_stale_and_what_settings_differ():
    first = Run("m", 1, settings={"epochs": 5, "batch_size": 64}, dataset="a" * 16, code="c")
    optimizer = "import torch\noptimizer = torch.optim.Adam(params, lr=0.01)\n"
    second = Run("m", 2, settings={"epochs": 5, "batch_size": 32, "optimizer": optimizer},
                 dataset="b" * 16, code="c")  # fmt: skip
    assert first.stale_reason("a" * 16, "c") is None
    assert "run 1 of m was trained on dataset aaaaaaaa" in first.stale_reason("b" * 16, "c")
    assert "code of m changed" in first.stale_reason("a" * 16, "other")
    assert Run("m", 1).stale_reason("x", "y") is None  # a migrated run: not recorded
    assert settings_diff(first, second) == [
        ("batch_size", "64", "32"),
        ("optimizer", "None", "torch.optim.Adam(params, lr=0.01)"),
        ("dataset", "aaaaaaaa", "bbbbbbbb"),
    ]
    assert diff_line(first, second).startswith("m run 1 vs m run 2: batch_size 64 → 32")
    assert diff_line(first, first).endswith("same settings, dataset and code")


def test_sweep_trials_show_and_compare_their_form_values():
    settings = {"epochs": 1, "batch_size": 32}
    one = Run("m", 1, settings=settings, code="c1", summary={"model_values": {"dropout": "0.1"}})
    two = Run("m", 2, settings=settings, code="c2", summary={"model_values": {"dropout": "0.4"}})
    assert key_settings(two.settings, two.model_values) == (
        "epochs 1 · batch_size 32 · model.dropout 0.4"
    )
    assert settings_diff(one, two) == [("model.dropout", "0.1", "0.4"), ("model code", "c1", "c2")]
    assert Run("m", 3, settings=settings).model_values == {}
