"""The Models and Dashboard tabs through NiceGUI's simulated user (no browser)."""

import pytest
import torch
from nicegui import app
from nicegui.testing.user_simulation import user_simulation
from tests.app.conftest import MAIN
from tests.app.test_ui_user import eventually

from torchstudio.app.demo import write_demo
from torchstudio.app.models.document import ModelDocument
from torchstudio.app.models.views import epoch_axis
from torchstudio.app.pages.dashboard_tab import validation_only
from torchstudio.app.pages.model_training import status_line
from torchstudio.app.store.project import Project
from torchstudio.model.suggest import suggest_training

pytestmark = pytest.mark.timeout(60)


async def test_add_duplicate_rename_and_dashboard_rows(user, tmp_path):
    await user.open("/")
    user.find(marker="tab-models").click()
    await user.should_see(marker="model-tab-MNISTClassifier")
    await user.should_see("Build")
    user.find(marker="duplicate-MNISTClassifier").click()
    await user.should_see(marker="model-tab-MNISTClassifier_2")
    user.find(marker="model-name-MNISTClassifier_2").type(" fast")
    user.find(marker="rename-MNISTClassifier_2").click()
    await user.should_see(marker="model-tab-MNISTClassifier_2_fast")
    user.find(marker="add-model").click()
    await user.should_see(marker="model-tab-MNISTClassifier_2")
    user.find(marker="tab-dashboard").click()
    table = next(iter(user.find(marker="models-table").elements))
    await eventually(lambda: len(table.rows) == 3)
    assert {r["status"] for r in table.rows} == {"not built"}
    project = Project.open(tmp_path / "demo.tsproj")
    try:
        assert project.model_names() == [
            "MNISTClassifier",
            "MNISTClassifier 2 fast",
            "MNISTClassifier 2",
        ]
    finally:
        project.close()


def model_document(tmp_path, name: str = "MNISTClassifier") -> dict:
    project = Project.open(tmp_path / "demo.tsproj")
    try:
        return project.model(name)
    finally:
        project.close()


def element(user, marker: str):
    return next(iter(user.find(marker=marker).elements))


@pytest.fixture
async def two_output_user(tmp_path, monkeypatch):
    """The demo project as saved after building a two-output model (no dataset load needed)."""
    monkeypatch.setenv("TORCHSTUDIO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TORCHSTUDIO_TEST_PROJECT", str(tmp_path / "demo.tsproj"))
    project = write_demo(tmp_path / "demo.tsproj")
    outputs = [{"shape": [1, 10], "dtype": "float32"}, {"shape": [1, 1], "dtype": "float32"}]
    suggestions = {"loss": [{"code": "loss = 'first'\n"}], "metric": []}
    project.update_model("MNISTClassifier", build={"outputs": outputs, "suggestions": suggestions})
    project.close()
    async with user_simulation(main_file=MAIN) as user:
        yield user


async def test_two_outputs_get_a_loss_and_a_metric_picker_each(two_output_user, tmp_path):
    user = two_output_user
    await user.open("/")
    user.find(marker="tab-models").click()
    for key in ("loss", "metric"):
        await user.should_see(marker=f"part-{key}-MNISTClassifier")
        await user.should_see(marker=f"part-{key}-2-MNISTClassifier")
    await user.should_see("loss · output 2 [1, 1]", retries=20)
    element(user, "part-loss-2-MNISTClassifier").set_value("torchstudio:MeanSquareError")
    await eventually(lambda: len(model_document(tmp_path)["settings"]["loss"]) == 2)
    document = model_document(tmp_path)
    first, second = document["settings"]["loss"]
    assert first is None  # the first output keeps its suggestion, not the user's
    assert ModelDocument.from_json(document).effective()["loss"][0] == "loss = 'first'\n"
    assert (
        "MeanSquareError" in second
        and document["parts"]["loss"][1]["module"] == "torchstudio:MeanSquareError"
    )
    element(user, "part-metric-MNISTClassifier").set_value("torchstudio:Accuracy")
    await eventually(lambda: len(model_document(tmp_path)["settings"].get("metric") or []) == 1)
    assert "Accuracy" in model_document(tmp_path)["settings"]["metric"][0]
    # Hand-edited code of the second loss is kept and marked.
    await user.should_not_see(marker="part-edited-loss-2-MNISTClassifier")
    element(user, "setting-loss-2-MNISTClassifier").set_value("loss = 'mine'\n")
    await user.should_see(marker="part-edited-loss-2-MNISTClassifier")
    await user.should_not_see(marker="part-edited-loss-MNISTClassifier")
    assert model_document(tmp_path)["settings"]["loss"][1] == "loss = 'mine'\n"


async def test_edited_model_code_is_marked_and_replacing_it_asks(user, tmp_path):
    await user.open("/")
    user.find(marker="tab-models").click()
    await user.should_see(marker="model-code-MNISTClassifier")
    await user.should_not_see(marker="model-edited-MNISTClassifier")
    element(user, "model-code-MNISTClassifier").set_value("model = 'mine'\n")
    await user.should_see(marker="model-edited-MNISTClassifier")
    assert model_document(tmp_path)["code_edited"] is True
    picker = element(user, "model-module-MNISTClassifier")
    other = next(k for k in picker.options if k != picker.value)
    picker.set_value(other)
    user.find(marker="keep-edited").click()  # the dialog asks first: keep the edits
    await eventually(lambda: picker.value == "torchstudio:MNISTClassifier")
    assert model_document(tmp_path)["code"] == "model = 'mine'\n"
    picker.set_value(other)
    user.find(marker="replace-edited").click()
    await eventually(lambda: model_document(tmp_path)["module"] == other)
    assert model_document(tmp_path)["code_edited"] is False
    assert model_document(tmp_path)["code"] != "model = 'mine'\n"
    await user.should_not_see(marker="model-edited-MNISTClassifier")


def test_curves_start_at_epoch_one_and_mark_the_best():
    option = {
        "xAxis": {"type": "value", "minInterval": 1},
        "series": [
            {"name": "m train", "data": [[1, 0.5], [2, 0.4]]},
            {
                "name": "m valid",
                "data": [[1, 0.6], [2, 0.7]],
                "markPoint": {"data": [{"name": "best", "coord": [2, 0.7]}]},
            },
        ],
    }
    drawn = epoch_axis(option, 2)
    assert drawn["xAxis"] == {"type": "value", "minInterval": 1, "min": 1, "max": 2}
    assert drawn["series"][1]["markLine"]["data"] == [{"xAxis": 2}]
    assert "markLine" not in drawn["series"][0]
    assert epoch_axis(option, 1)["xAxis"]["max"] == 2  # one epoch: still an axis to draw on
    compared = validation_only(option)
    assert [s["name"] for s in compared["series"]] == ["m valid"]
    assert compared["legend"]["data"] == ["m valid"]


async def test_picking_another_model_shows_its_documentation_and_parameters(user, tmp_path):
    await user.open("/")
    user.find(marker="tab-models").click()
    await user.should_see(marker="model-param-hidden")
    await user.should_see("MNISTClassifier documentation")
    await user.should_not_see(marker="model-param-depth")
    element(user, "model-module-MNISTClassifier").set_value("torchstudio:UNet2D")
    # At once, without reopening the tab: the new module's form and documentation.
    await user.should_see(marker="model-param-depth")
    await user.should_see(marker="model-param-out_channels")
    await user.should_see("UNet2D documentation")
    await user.should_not_see(marker="model-param-hidden")
    await user.should_not_see("MNISTClassifier documentation")
    # The new form's fields work: a parameter rewrites the model's code.
    user.find(marker="model-param-depth").clear().type("2").trigger("change")
    await eventually(lambda: "depth=2" in model_document(tmp_path)["code"])
    assert model_document(tmp_path)["module"] == "torchstudio:UNet2D"


async def test_picking_a_loss_updates_its_title(two_output_user, tmp_path):
    user = two_output_user
    await user.open("/")
    user.find(marker="tab-models").click()
    await user.should_see("loss · output 2 [1, 1]: (none yet: pick a module)", retries=20)
    element(user, "part-loss-2-MNISTClassifier").set_value("torchstudio:MeanSquareError")
    await user.should_see("loss · output 2 [1, 1]: loss = MeanSquareError()")
    await user.should_not_see("loss · output 2 [1, 1]: (none yet: pick a module)")
    element(user, "part-optimizer-MNISTClassifier").set_value("torchstudio:SGD")
    await user.should_see("optimizer: optimizer = SGD(", retries=20)


def digits_build() -> dict:
    """The build summary of the demo model on Digits, with modelbuild's real suggestions."""
    suggestions = suggest_training(
        [torch.rand(1, 1, 8, 8)], [torch.tensor([3])], [torch.rand(1, 10)], train_count=1438
    )
    return {"parameters": {"total": 5}, "outputs": [{"shape": [1, 10]}], "suggestions": suggestions}


async def test_a_typed_batch_size_survives_build(user, tmp_path):
    await user.open("/")
    user.find(marker="tab-models").click()
    field = element(user, "setting-batch_size-MNISTClassifier")
    # Not set: the default is shown greyed, so typing the same number is still a change
    # (the field used to hold "64" itself: typing 64 changed nothing and was not saved).
    assert field.value == "" and field.props["placeholder"] == "64"
    assert field.props["hint"] == "default"
    user.find(marker="setting-batch_size-MNISTClassifier").type("64").trigger("change")
    await eventually(lambda: model_document(tmp_path)["settings"].get("batch_size") == 64)
    # The build's report arrives (batch size 128 suggested), as the app stores it.
    app.state.studio.project.update_model("MNISTClassifier", build=digits_build(), status="built")
    await eventually(lambda: element(user, "setting-batch_size-MNISTClassifier") is not field)
    field = element(user, "setting-batch_size-MNISTClassifier")
    assert field.value == "64" and "hint" not in field.props
    await user.should_not_see(marker="accept-batch_size-MNISTClassifier")
    assert model_document(tmp_path)["settings"]["batch_size"] == 64


async def test_compile_and_checkpoint_every_in_the_settings_form(user, tmp_path):
    await user.open("/")
    user.find(marker="tab-models").click()
    compiled = element(user, "setting-compile-MNISTClassifier")
    assert compiled.value == "auto" and "torchscript" in compiled.options
    compiled.value = "off"
    await eventually(lambda: model_document(tmp_path)["settings"].get("compile") == "off")
    field = element(user, "setting-checkpoint_every-MNISTClassifier")
    assert field.value == "" and field.props["placeholder"] == "1"
    user.find(marker="setting-checkpoint_every-MNISTClassifier").type("0").trigger("change")
    await eventually(lambda: "checkpoint_every must be at least 1" in str(field.error))
    assert "checkpoint_every" not in model_document(tmp_path)["settings"]
    field.value = ""
    user.find(marker="setting-checkpoint_every-MNISTClassifier").type("5").trigger("change")
    await eventually(lambda: model_document(tmp_path)["settings"].get("checkpoint_every") == 5)


@pytest.fixture
async def built_user(tmp_path, monkeypatch):
    """The demo project as saved after a build on Digits (no dataset load needed)."""
    monkeypatch.setenv("TORCHSTUDIO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TORCHSTUDIO_TEST_PROJECT", str(tmp_path / "demo.tsproj"))
    project = write_demo(tmp_path / "demo.tsproj")
    project.update_model("MNISTClassifier", build=digits_build(), status="built")
    project.close()
    async with user_simulation(main_file=MAIN) as user:
        yield user


async def test_suggested_parts_show_their_module_and_form_and_accept_makes_them_the_users(
    built_user, tmp_path
):
    user = built_user
    await user.open("/")
    user.find(marker="tab-models").click()
    await user.should_see(marker="suggested-optimizer-MNISTClassifier", retries=20)
    assert element(user, "part-optimizer-MNISTClassifier").value == "torchstudio:AdamW"
    assert element(user, "part-param-lr-optimizer-MNISTClassifier").value == "0.01"
    assert element(user, "part-scheduler-MNISTClassifier").value == "torchstudio:OneCycle"
    assert element(user, "part-param-epochs-scheduler-MNISTClassifier").value == "epochs"
    await user.should_see("optimizer: optimizer = AdamW(model.parameters(), lr=0.01) (suggested)")
    # The batch size is suggested: greyed, marked, and Accept makes it the user's.
    field = element(user, "setting-batch_size-MNISTClassifier")
    assert field.value == "" and field.props["placeholder"] == "128"
    assert field.props["hint"] == "suggested"
    user.find(marker="accept-batch_size-MNISTClassifier").click()
    await eventually(lambda: model_document(tmp_path)["settings"].get("batch_size") == 128)

    user.find(marker="accept-optimizer-MNISTClassifier").click()
    await user.should_not_see(marker="suggested-optimizer-MNISTClassifier")
    document = model_document(tmp_path)
    assert "AdamW(model.parameters(), lr=0.01)" in document["settings"]["optimizer"]
    assert document["parts"]["optimizer"]["module"] == "torchstudio:AdamW"
    await user.should_see("optimizer: optimizer = AdamW(model.parameters(), lr=0.01)")

    # Picking another scheduler, then OneCycle again, keeps epochs and steps per epoch.
    picker = element(user, "part-scheduler-MNISTClassifier")
    picker.set_value("torchstudio:Step")
    await eventually(
        lambda: "Step(" in (model_document(tmp_path)["settings"].get("scheduler") or "")
    )
    await user.should_not_see(marker="suggested-scheduler-MNISTClassifier")
    picker.set_value("torchstudio:OneCycle")
    await eventually(
        lambda: (
            "OneCycle(optimizer, epochs=epochs, steps_per_epoch=steps_per_epoch)"
            in model_document(tmp_path)["settings"]["scheduler"]
        )
    )
    await user.should_see(marker="part-param-steps_per_epoch-scheduler-MNISTClassifier")
    assert element(user, "part-param-steps_per_epoch-scheduler-MNISTClassifier").value == (
        "steps_per_epoch"
    )


async def test_a_build_of_other_code_is_marked_stale(built_user):
    await built_user.open("/")
    built_user.find(marker="tab-models").click()
    await built_user.should_see(marker="build-stale-MNISTClassifier")
    stale = element(built_user, "build-stale-MNISTClassifier")
    studio, name = app.state.studio, "MNISTClassifier"
    # A build of today's code on today's dataset: not stale.
    made_from = {
        "code": studio.models.code_fingerprint(name),
        "dataset": studio.dataset.fingerprint(),
    }
    studio.project.update_model(name, build={**digits_build(), **made_from})
    await eventually(lambda: stale.text == "")
    studio.models.set_code(name, "model = None  # other code\n")
    await eventually(lambda: stale.text == "stale: the model code changed since this build")


async def test_a_timm_architecture_is_picked_like_any_model(user, tmp_path):
    pytest.importorskip("timm")
    await user.open("/")
    user.find(marker="tab-models").click()
    await user.should_see(marker="model-param-hidden")
    picker = element(user, "model-module-MNISTClassifier")
    await eventually(lambda: "timm:test_resnet" in picker.options, timeout=120)
    assert picker.options["timm:test_resnet"] == "test_resnet (timm)"
    picker.set_value("timm:test_resnet")
    await user.should_see("test_resnet documentation")
    await user.should_see(marker="model-param-in_chans")
    user.find(marker="model-param-in_chans").clear().type("1").trigger("change")
    user.find(marker="model-param-num_classes").clear().type("10").trigger("change")
    await eventually(lambda: "in_chans=1" in model_document(tmp_path)["code"])
    code = model_document(tmp_path)["code"]
    assert code.startswith("from timm.models.resnet import test_resnet")
    assert "model = test_resnet(num_classes=10, in_chans=1)" in code


def test_the_status_line_says_each_thing_once():
    assert status_line("finished", " · epoch 5/5", "finished") == "finished · epoch 5/5"
    assert status_line("training", " · epoch 2/5", "epoch 2/5") == "training · epoch 2/5"
    assert status_line("error", "", "shape mismatch") == "error"
    assert status_line("stopped", " · epoch 3/5", "stopped: the trainer did not answer") == (
        "stopped: the trainer did not answer · epoch 3/5"
    )
    assert status_line("starting", "", "loading the dataset") == "starting · loading the dataset"
    assert status_line(None, "", None) == ""


async def test_only_the_buttons_that_can_act_are_enabled(user):
    await user.open("/")
    user.find(marker="tab-models").click()
    await user.should_see(marker="train-MNISTClassifier")
    train, stop, resume = (
        element(user, f"{kind}-MNISTClassifier") for kind in ("train", "stop", "resume")
    )
    # Nothing trains and there is no run: Train only.
    await eventually(lambda: train.enabled and not stop.enabled and not resume.enabled)


@pytest.fixture
async def trained_user(demo_file):
    """The demo project with a run of three epochs already in it (written before the app opens it)."""
    project = Project.open(demo_file)
    try:
        settings = {"epochs": 3, "optimizer": "optimizer = Adam(model.parameters())\n"}
        run = project.add_run("MNISTClassifier", settings, "data", "code", status="finished")
        for epoch, (loss, metric) in enumerate([(2.0, 0.5), (0.5, 0.91234), (-1.0, 0.8)], 1):
            record = {"train_loss": loss, "valid_loss": loss, "valid_metric": metric, "lr": 0.001}
            project.add_epoch("MNISTClassifier", run, epoch, record)
    finally:
        project.close()
    async with user_simulation(main_file=MAIN) as user:
        yield user


async def test_curves_have_a_headline_a_log_scale_and_a_csv(trained_user):
    user = trained_user
    await user.open("/")
    user.find(marker="tab-models").click()
    await user.should_see("run 1: best valid metric 0.9123 at epoch 2", retries=40)
    chart = element(user, "loss-chart-MNISTClassifier")
    await eventually(lambda: len(chart.options.get("series") or []) == 2, timeout=60)
    assert chart.options["yAxis"]["type"] == "value"
    assert [point[1] for point in chart.options["series"][0]["data"]] == [2.0, 0.5, -1.0]
    element(user, "log-scale-MNISTClassifier").set_value(True)
    await eventually(lambda: chart.options["yAxis"]["type"] == "log")
    # A log axis cannot show -1: a gap, not a failure.
    assert [point[1] for point in chart.options["series"][0]["data"]] == [2.0, 0.5, None]
    user.find(marker="curves-csv-MNISTClassifier").click()
    response = await user.download.next(timeout=10)
    lines = response.text.splitlines()
    assert lines[0] == "epoch,train_loss,valid_loss,train_metric,valid_metric,lr,seconds"
    assert lines[2] == "2,0.5,0.5,,0.91234,0.001,"
    user.find(marker="tab-dashboard").click()
    await user.should_see("best: MNISTClassifier run 1 · valid metric 0.9123 at epoch 2")
    # The parameters chart: Adam's own default learning rate (not 0), lines coloured by the
    # validation metric.
    parallel = element(user, "parameters-chart")
    await eventually(lambda: bool(parallel.options.get("series")), timeout=60)
    names = [axis["name"] for axis in parallel.options["parallelAxis"]]
    lr = parallel.options["series"][0]["data"][0]["value"][names.index("lr")]
    assert lr == pytest.approx(0.001)
    assert parallel.options["visualMap"]["dimension"] == names.index("valid_metric")
