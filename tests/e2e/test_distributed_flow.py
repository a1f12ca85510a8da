"""Two CPU processes chosen in the Model tab: the effective batch shows, the job trains.

A real server and headless Chromium (tests/e2e/conftest.py); the training is a real
two-rank Gloo job of the demo model, run by the model's trainer.
"""

import re

import pytest

from torchstudio.app.store.project import Project

pytestmark = pytest.mark.timeout(300)

# The number of points drawn in each line of the charts with class `cls` (ECharts' own state).
CHART_POINTS = """(cls) => [...document.querySelectorAll('.' + cls)].map((el) => {
  const chart = getElement(el).chart;
  const option = chart && chart.getOption();
  return option && option.series ? option.series.map((s) => (s.data || []).length) : [];
})"""


def visible(page, kind):
    return page.locator(f"[data-ts={kind}]:visible").first


def wait_text(page, kind, pattern, timeout=120_000):
    page.wait_for_function(
        """([kind, pattern]) => [...document.querySelectorAll(`[data-ts=${kind}]`)]
             .some((el) => el.offsetParent && new RegExp(pattern).test(el.innerText))""",
        arg=[kind, pattern],
        timeout=timeout,
    )


def set_field(page, label, value):
    field = page.get_by_label(label, exact=True).locator("visible=true").first
    field.fill(str(value))
    field.press("Enter")
    field.blur()


def stored(server, name):
    project = Project.open(server.project)
    try:
        return project.model(name), project.epochs(name)
    finally:
        project.close()


def test_two_cpu_processes_from_the_model_tab(server, page, shot):
    page.goto(server.url)
    page.get_by_role("button", name="Load", exact=True).click()
    page.get_by_text("1438 training samples", exact=True).wait_for()
    page.get_by_role("tab", name="Models").click()
    set_field(page, "epochs", 2)
    set_field(page, "batch size", 32)
    wait_text(page, "batch-line", r"^batch 32 on one device$")

    visible(page, "placement-mode").click()
    page.get_by_role("option", name="several devices", exact=True).click()
    set_field(page, "CPU processes", 2)  # the CPU, twice: a two-rank Gloo job
    wait_text(page, "batch-line", r"^effective batch 64 = 32 per device x 2 processes")
    assert "Learning rate not scaled" in visible(page, "batch-line").inner_text()
    assert not "".join(page.locator("[data-ts=placement-error]").all_inner_texts()).strip()
    document, _ = stored(server, "MNISTClassifier")
    assert document["settings"]["devices"] == ["cpu", "cpu"]
    shot("two-cpu-processes")

    page.get_by_role("button", name="Train", exact=True).click()
    wait_text(page, "train-status", r"^finished", timeout=240_000)
    page.wait_for_function(
        "(cls) => " + CHART_POINTS + "(cls).every((s) => s.length && Math.min(...s) >= 2)",
        arg="ts-curves",
    )
    shot("trained")
    assert not "".join(page.locator("[data-ts=train-error]").all_inner_texts()).strip()
    document, epochs = stored(server, "MNISTClassifier")
    assert [e["epoch"] for e in epochs] == [1, 2]
    training = document["training"]
    assert training["world_size"] == 2 and training["effective_batch_size"] == 64
    assert re.search(r"64 samples", training["lr_scaling"])

    # A reload shows the same choice: several devices, the CPU twice.
    page.reload()
    page.get_by_role("tab", name="Models").click()
    wait_text(page, "batch-line", r"^effective batch 64 = 32 per device x 2 processes")
    cpu = page.get_by_label("CPU processes", exact=True).locator("visible=true").first
    assert cpu.input_value() == "2"
