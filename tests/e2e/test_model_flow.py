"""The Models and Dashboard tabs in a real browser against the real server, with screenshots.

The tests share one server and project and run in order: the newcomer flow trains the demo
model, the next tests add models next to it.
"""

import re

import numpy as np
import pytest
from tests.helpers.waiting import wait_until

from torchstudio.app.store.project import Project

pytestmark = pytest.mark.timeout(300)

# The number of points drawn in each line of the charts with class `cls` (ECharts' own state).
CHART_POINTS = """(cls) => [...document.querySelectorAll('.' + cls)].map((el) => {
  const chart = getElement(el).chart;
  const option = chart && chart.getOption();
  return option && option.series ? option.series.map((s) => (s.data || []).length) : [];
})"""


# Each curves chart's x axis start, last epoch drawn, and whether the best epoch is marked.
CHART_AXES = """(cls) => [...document.querySelectorAll('.' + cls)].map((el) => {
  const option = getElement(el).chart.getOption();
  const epochs = option.series.flatMap((s) => (s.data || []).map((p) => p[0]));
  const best = option.series.some((s) => s.markPoint && s.markLine);
  return {min: option.xAxis[0].min, last: Math.max(...epochs), best};
})"""
SERIES_NAMES = """(cls) => [...document.querySelectorAll('.' + cls)]
  .map((el) => getElement(el).chart.getOption().series.map((s) => s.name))"""
TOOLTIP_VALUE = """([cls, value]) => [...document.querySelectorAll('.' + cls)]
  .map((el) => getElement(el).chart.getOption().tooltip[0].valueFormatter(value))"""
PARALLEL_AXES = """() => getElement(document.querySelector('.ts-parameters')).chart
  .getOption().parallelAxis.map((axis) => axis.name)"""
# The output view's images of these kinds are all loaded (a broken image has no width).
IMAGES_LOADED = """(kinds) => kinds.every((kind) => {
  const images = [...document.querySelectorAll(`img[data-ts=output-${kind}]`)]
    .filter((image) => image.offsetParent);
  return images.length && images.every((image) => image.complete && image.naturalWidth > 0);
})"""
IMAGE_SIZES = """() => Object.fromEntries([...document.querySelectorAll('img[data-ts^=output-]')]
  .filter((image) => image.offsetParent)
  .map((image) => [image.dataset.ts.slice(7), [image.naturalWidth, image.naturalHeight]]))"""


def status(page, kind):
    return page.locator(f"[data-ts={kind}]:visible").first


def wait_status(page, kind, pattern, timeout=120_000):
    page.wait_for_function(
        """([kind, pattern]) => [...document.querySelectorAll(`[data-ts=${kind}]`)]
             .some((el) => el.offsetParent && new RegExp(pattern).test(el.innerText))""",
        arg=[kind, pattern],
        timeout=timeout,
    )


def replace_code(page, editor, text):
    """Replace a CodeMirror editor's text as pasted (no bracket auto-closing), then blur."""
    editor.locator(".cm-content").click()
    page.keyboard.press("Control+a")
    page.keyboard.insert_text(text)
    page.locator("body").click(position={"x": 5, "y": 5})


def set_field(page, label, value):
    field = page.get_by_label(label, exact=True).locator("visible=true").first
    field.fill(str(value))
    field.press("Enter")
    field.blur()


def open_loaded(server, page):
    """The app's page with the dataset loaded (by an earlier test of the module, or now).

    Loading again when it is loaded would redraw the model tab while the test clicks in it,
    once the load ends: a click can land on a button the redraw replaces.
    """
    page.goto(server.url)
    status = page.locator("[data-ts=load-status]")
    status.wait_for()
    if status.inner_text() != "loaded":
        page.get_by_role("button", name="Load", exact=True).click()
    page.locator("[data-ts=load-status]:text-is('loaded')").wait_for()
    page.get_by_text("1438 training samples", exact=True).wait_for()
    page.get_by_role("tab", name="Models").click()


def model_names(server):
    project = Project.open(server.project)
    try:
        return project.model_names()
    finally:
        project.close()


def epochs_of(server, name):
    project = Project.open(server.project)
    try:
        return project.epochs(name)
    finally:
        project.close()


def test_newcomer_builds_trains_predicts_and_exports(server, page, shot, tmp_path):
    open_loaded(server, page)
    page.get_by_role("button", name="Build", exact=True).click()
    wait_status(page, "build-status", r"[\d,]+ parameters")
    page.wait_for_function("() => document.querySelector('[data-ts=graph] svg g title')")
    # Each node's details (op, shape...) are its tooltip.
    tips = page.eval_on_selector_all(
        "[data-ts=graph] svg title", "ts => ts.map((t) => t.textContent)"
    )
    assert len(tips) >= 3 and any("Sequential" in tip for tip in tips), tips
    assert re.search(r"[\d,]+ parameters", status(page, "build-status").inner_text())
    shot("built")

    set_field(page, "epochs", 3)
    page.get_by_role("button", name="Train", exact=True).click()
    wait_status(page, "train-status", r"epoch 1/3")
    seen = page.evaluate(CHART_POINTS, "ts-curves")
    wait_status(page, "train-status", r"^finished")
    shot("trained")
    page.wait_for_function(
        "(cls) => (" + CHART_POINTS + ")(cls).every((s) => s.length && Math.min(...s) >= 3)",
        arg="ts-curves",
    )
    later = page.evaluate(CHART_POINTS, "ts-curves")
    assert max(max(s) for s in later) > max((max(s) for s in seen if s), default=0)
    # After the finish every epoch is drawn, on an x axis of whole epochs from 1.
    page.wait_for_function(
        "(cls) => (" + CHART_AXES + ")(cls).every((a) => a.last === 3)", arg="ts-curves"
    )
    axes = page.evaluate(CHART_AXES, "ts-curves")
    assert len(axes) == 2 and all(a["min"] == 1 and a["best"] for a in axes), axes
    # Tooltips read 4 significant digits: the browser made a function of the formatter.
    shown = page.evaluate(TOOLTIP_VALUE, ["ts-curves", 0.123456789])
    assert shown == ["0.1235", "0.1235"], shown
    epochs = epochs_of(server, "MNISTClassifier")
    assert [e["epoch"] for e in epochs] == [1, 2, 3]
    assert epochs[-1]["valid_metric"] > 0.3  # ten classes: chance is 0.1

    page.locator("[data-ts=fold-output]:visible").first.click()  # it folds: open it
    page.get_by_role("button", name="Show output", exact=True).click()
    wait_status(page, "prediction", r"predicted \d .* target \d")
    # Input, output and target, each drawn by the Dataset tab's renderer of that tensor.
    page.wait_for_function(IMAGES_LOADED, arg=["inputs", "outputs", "targets"])
    sizes = page.evaluate(IMAGE_SIZES)
    assert sorted(sizes) == ["inputs", "outputs", "targets"], sizes
    assert all(size == [160, 160] for size in sizes.values()), sizes
    wrong = page.request.get(f"{server.base}api/model/output/weights/0.png?name=MNISTClassifier")
    assert wrong.status == 400 and "kind must be one of inputs" in wrong.text(), wrong.text()
    shot("output")

    page.locator("[data-ts=fold-export]:visible").first.click()
    with page.expect_download() as download:
        page.get_by_role("button", name="Download", exact=True).click()
    path = tmp_path / "model.onnx"
    download.value.save_as(path)
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    graph_input = session.get_inputs()[0]
    shape = [d if isinstance(d, int) else 1 for d in graph_input.shape]
    (outputs,) = session.run(None, {graph_input.name: np.zeros(shape, np.float32)})
    assert outputs.shape == (1, 10)
    shot("exported")


def test_two_models_started_together_and_compared(server, page, shot):
    open_loaded(server, page)
    page.get_by_role("button", name="Duplicate", exact=True).click()
    page.get_by_role("tab", name="MNISTClassifier 2").wait_for()
    page.get_by_role("button", name="Build", exact=True).click()
    wait_status(page, "build-status", r"[\d,]+ parameters")
    set_field(page, "epochs", 2)
    page.get_by_text("optimizer:").click()
    # The optimizer part's own editor, once its expansion has opened (the last editor on the
    # page is the model's until then: a run typed into it).
    # (The innermost expansion that says it: the settings' fold holds it too.)
    part = page.locator(".q-expansion-item", has_text="optimizer:").locator("visible=true").last
    editor = part.locator(".cm-editor").first
    editor.wait_for(state="visible")
    replace_code(
        page, editor, "import torch\noptimizer = torch.optim.Adam(model.parameters(), lr=0.003)\n"
    )
    # The optimizer's code typed by hand is marked as edited; the model's is not.
    page.locator("[data-ts=edited]:visible").first.wait_for()
    assert page.locator("[data-ts=edited]:visible").count() == 1
    shot("duplicate")
    page.get_by_role("tab", name="Dashboard").click()
    page.get_by_role("button", name="Start all", exact=True).click()
    page.get_by_text("training", exact=True).first.wait_for()
    shot("training-both")
    page.wait_for_function(
        """() => [...document.querySelectorAll('tbody tr')]
             .filter((r) => /finished/.test(r.innerText)).length >= 2""",
        timeout=180_000,
    )
    done = sorted(len(epochs_of(server, n)) for n in ("MNISTClassifier", "MNISTClassifier 2"))
    page.wait_for_function(  # both models' validation curves, each with all its epochs
        "([cls, done]) => JSON.stringify(("
        + CHART_POINTS
        + ")(cls)[0].sort((a, b) => a - b)) == done",
        arg=["ts-compare", str(done).replace(" ", "")],
        timeout=60_000,
    )
    names = page.evaluate(SERIES_NAMES, "ts-compare")[0]
    assert len(names) >= 2 and all(n.endswith(" valid") for n in names), names
    assert any(n.startswith("MNISTClassifier 2 ") for n in names), names
    # The parameters plot shows each model's optimizer and learning rate next to its results.
    axes = page.evaluate(PARALLEL_AXES)
    assert {"lr", "optimizer", "valid_metric"} <= set(axes), axes
    rows = page.locator("tbody tr").all_inner_texts()
    assert any("MNISTClassifier 2" in r for r in rows) and len(rows) >= 2
    shot("dashboard")
    project = Project.open(server.project)
    try:
        optimizer = project.model("MNISTClassifier 2")["settings"]["optimizer"]
        assert "lr=0.003" in optimizer
        assert len(project.epochs("MNISTClassifier 2")) == 2
    finally:
        project.close()
    page.locator("tbody tr", has_text="MNISTClassifier 2").first.click()
    status(page, "build-status").wait_for()
    shot("row-opened")


def runs_of(server, name):
    project = Project.open(server.project)
    try:
        return project.runs(name)
    finally:
        project.close()


def test_stop_reload_and_resume(server, page, shot):
    open_loaded(server, page)
    page.get_by_role("tab", name="MNISTClassifier", exact=True).click()
    set_field(page, "epochs", 8)
    earlier = len(runs_of(server, "MNISTClassifier"))  # trained by the test before, if run
    page.get_by_role("button", name="Train", exact=True).click()
    if earlier:  # Train asks whether to keep the model's runs: kept, this one is the next
        page.get_by_role("button", name="Train, keep them").click()
    wait_status(page, "train-status", r"epoch [1-5]/8")
    page.locator("[data-ts=stop]:visible").first.click()  # the training's (others stop probes)
    wait_status(page, "train-status", r"^stopped")
    stopped = len(epochs_of(server, "MNISTClassifier"))
    assert 1 <= stopped < 8
    page.reload()
    page.get_by_role("tab", name="Models").click()
    wait_status(page, "train-status", r"^stopped")
    page.wait_for_function(  # the curves are drawn again from the project
        "(cls) => ("
        + CHART_POINTS
        + f")(cls).every((s) => s.length && Math.min(...s) >= {stopped})",
        arg="ts-curves",
    )
    shot("stopped-reloaded")
    page.get_by_role("button", name="Resume", exact=True).click()
    wait_status(page, "train-status", r"^finished|^error")
    errors = "() => [...document.querySelectorAll('[data-ts=train-error]')].map((e) => e.innerText)"
    assert "".join(page.evaluate(errors)) == ""
    assert [e["epoch"] for e in epochs_of(server, "MNISTClassifier")] == list(range(1, 9))
    # Resume went on with the same run; the earlier ones are kept.
    assert [r["number"] for r in runs_of(server, "MNISTClassifier")] == list(range(1, earlier + 2))
    wait_status(page, "run-shown", rf"^showing run {earlier + 1} of {earlier + 1} ")
    page.wait_for_function(
        "(cls) => (" + CHART_POINTS + ")(cls).every((s) => s.length && Math.min(...s) >= 8)",
        arg="ts-curves",
    )
    shot("resumed")


def test_shape_error_and_nan_loss_are_shown(server, page, shot):
    open_loaded(server, page)
    before = set(model_names(server))
    page.get_by_role("button", name="New model", exact=True).click()
    # Its name depends on the models made before it: read it from the project.
    (new_tab,) = wait_until(
        lambda: set(model_names(server)) - before, what="the new model in the project"
    )
    page.get_by_role("tab", name=new_tab, exact=True).wait_for()
    editor = page.locator(".cm-editor:visible").first
    wrong_model = (
        "import torch\n\nclass Wrong(torch.nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n"
        "        self.linear = torch.nn.Linear(3, 2)\n\n"
        "    def forward(self, x):\n        return self.linear(x)\n\nmodel = Wrong()\n"
    )
    replace_code(page, editor, wrong_model)
    page.locator("[data-ts=edited]:visible").first.wait_for()  # the model code is marked
    page.get_by_role("button", name="Build", exact=True).click()
    wait_status(page, "build-error", r"shape")
    text = status(page, "build-error").inner_text()
    assert "line 9" in text and "1×1×8×8" in text, text
    # The editor marks that line, as the Dataset tab marks a dataset error's line.
    marked = editor.locator(".ts-error-line")
    marked.wait_for()
    assert "return self.linear(x)" in marked.inner_text()
    shot("shape-error")

    nan_model = (
        "import torch\n\nclass Bad(torch.nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n"
        "        self.linear = torch.nn.Linear(64, 10)\n\n"
        "    def forward(self, x):\n"
        "        return self.linear(x.flatten(1)) * float('nan')\n\nmodel = Bad()\n"
    )
    replace_code(page, editor, nan_model)
    page.get_by_role("button", name="Build", exact=True).click()
    wait_status(page, "build-status", r"[\d,]+ parameters")
    page.get_by_role("button", name="Train", exact=True).click()
    wait_status(page, "train-error", r"loss became nan")
    shot("nan-loss")
    # The Dashboard says which model failed (its message is on the model's tab).
    page.get_by_role("tab", name="Dashboard").click()
    failed = page.locator("tbody tr", has_text=new_tab)
    failed.get_by_text("error", exact=True).wait_for()
    page.get_by_role("tab", name="Models").click()
    # The app keeps working: the first model still builds.
    page.get_by_role("tab", name="MNISTClassifier", exact=True).click()
    page.get_by_role("button", name="Build", exact=True).click()
    wait_status(page, "build-status", r"[\d,]+ parameters")


def test_two_output_model_gets_a_loss_and_a_metric_per_output(server, page, shot):
    open_loaded(server, page)
    before = set(model_names(server))
    page.get_by_role("button", name="New model", exact=True).click()
    (new_tab,) = wait_until(
        lambda: set(model_names(server)) - before, what="the new model in the project"
    )
    page.get_by_role("tab", name=new_tab, exact=True).and_(
        page.locator("[aria-selected=true]")
    ).wait_for()
    editor = page.locator(".cm-editor:visible").first
    two_outputs = (
        "import torch\n\nclass TwoHeads(torch.nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n"
        "        self.classes = torch.nn.Linear(64, 10)\n"
        "        self.size = torch.nn.Linear(64, 1)\n\n"
        "    def forward(self, x):\n"
        "        x = x.flatten(1)\n        return self.classes(x), self.size(x)\n\n"
        "model = TwoHeads()\n"
    )
    replace_code(page, editor, two_outputs)
    page.locator("[data-ts=edited]:visible").first.wait_for()
    page.get_by_role("button", name="Build", exact=True).click()
    wait_status(page, "build-status", r"[\d,]+ parameters")
    for key in ("loss", "metric"):
        page.wait_for_function(
            "(key) => [...document.querySelectorAll(`[data-ts=${key}-part]`)]"
            ".filter((e) => e.offsetParent).length === 2",
            arg=key,
        )
    titles = page.locator("[data-ts=loss-part]:visible").all_inner_texts()
    assert "output 1" in titles[0] and "output 2" in titles[1], titles
    second = page.locator("[data-ts=loss-part]:visible").nth(1)
    second.get_by_text("loss · output 2").click()
    second.locator(".q-select input").first.fill("MeanSquare")
    page.get_by_role("option", name=re.compile("^MeanSquareError")).first.click()
    page.wait_for_function(
        "() => [...document.querySelectorAll('.cm-content')].some((e) => e.offsetParent"
        " && /MeanSquareError\\(/.test(e.innerText))"
    )
    shot("two-outputs")
    project = Project.open(server.project)
    try:
        losses = project.model(new_tab)["settings"]["loss"]
    finally:
        project.close()
    assert len(losses) == 2 and "MeanSquareError" in losses[1], losses
