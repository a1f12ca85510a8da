"""The Models and Dashboard tabs in a real browser against the real server, with screenshots.

The tests share one server and project and run in order: the newcomer flow trains the demo
model, the next tests add models next to it.
"""

import re

import numpy as np
import pytest

from torchstudio.app.project import Project

pytestmark = pytest.mark.timeout(300)

# The number of points drawn in each line of the charts with class `cls` (ECharts' own state).
CHART_POINTS = """(cls) => [...document.querySelectorAll('.' + cls)].map((el) => {
  const chart = getElement(el).chart;
  const option = chart && chart.getOption();
  return option && option.series ? option.series.map((s) => (s.data || []).length) : [];
})"""


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
    page.goto(server.url)
    page.get_by_role("button", name="Load", exact=True).click()
    page.get_by_text("1438 training samples", exact=True).wait_for()
    page.get_by_role("tab", name="Models").click()


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
        "(cls) => " + CHART_POINTS + "(cls).every((s) => s.length && Math.min(...s) >= 3)",
        arg="ts-curves",
    )
    later = page.evaluate(CHART_POINTS, "ts-curves")
    assert max(max(s) for s in later) > max((max(s) for s in seen if s), default=0)
    epochs = epochs_of(server, "MNISTClassifier")
    assert [e["epoch"] for e in epochs] == [1, 2, 3]
    assert epochs[-1]["valid_metric"] > 0.3  # ten classes: chance is 0.1

    page.get_by_role("button", name="Show output", exact=True).click()
    wait_status(page, "prediction", r"predicted \d .* target \d")
    shot("output")

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
    editor = page.locator(".cm-editor:visible").last
    replace_code(
        page, editor, "import torch\noptimizer = torch.optim.Adam(model.parameters(), lr=0.003)\n"
    )
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
    page.wait_for_function(
        "(cls) => " + CHART_POINTS + "(cls)[0].filter((n) => n >= 2).length >= 4",
        arg="ts-compare",
    )
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


def test_stop_reload_and_resume(server, page, shot):
    open_loaded(server, page)
    page.get_by_role("tab", name="MNISTClassifier", exact=True).click()
    set_field(page, "epochs", 8)
    page.get_by_role("button", name="Train", exact=True).click()
    wait_status(page, "train-status", r"epoch [1-5]/8")
    page.get_by_role("button", name="Stop", exact=True).click()
    wait_status(page, "train-status", r"^stopped")
    stopped = len(epochs_of(server, "MNISTClassifier"))
    assert 1 <= stopped < 8
    page.reload()
    page.get_by_role("tab", name="Models").click()
    wait_status(page, "train-status", r"^stopped")
    page.wait_for_function(  # the curves are drawn again from the project
        "(cls) => " + CHART_POINTS + f"(cls).every((s) => s.length && Math.min(...s) >= {stopped})",
        arg="ts-curves",
    )
    shot("stopped-reloaded")
    page.get_by_role("button", name="Resume", exact=True).click()
    wait_status(page, "train-status", r"^finished|^error")
    errors = "() => [...document.querySelectorAll('[data-ts=train-error]')].map((e) => e.innerText)"
    assert "".join(page.evaluate(errors)) == ""
    assert [e["epoch"] for e in epochs_of(server, "MNISTClassifier")] == list(range(1, 9))
    page.wait_for_function(
        "(cls) => " + CHART_POINTS + "(cls).every((s) => s.length && Math.min(...s) >= 8)",
        arg="ts-curves",
    )
    shot("resumed")


def test_shape_error_and_nan_loss_are_shown(server, page, shot):
    open_loaded(server, page)
    page.get_by_role("button", name="New model", exact=True).click()
    page.get_by_role("tab", name="MNISTClassifier 3").wait_for()
    editor = page.locator(".cm-editor:visible").first
    wrong_model = (
        "import torch\n\nclass Wrong(torch.nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n"
        "        self.linear = torch.nn.Linear(3, 2)\n\n"
        "    def forward(self, x):\n        return self.linear(x)\n\nmodel = Wrong()\n"
    )
    replace_code(page, editor, wrong_model)
    page.get_by_role("button", name="Build", exact=True).click()
    wait_status(page, "build-error", r"shape")
    text = status(page, "build-error").inner_text()
    assert "line 9" in text and "1×1×8×8" in text, text
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
    # The app keeps working: the first model still shows its output.
    page.get_by_role("tab", name="MNISTClassifier", exact=True).click()
    page.get_by_role("button", name="Show output", exact=True).click()
    wait_status(page, "prediction", r"predicted \d")
