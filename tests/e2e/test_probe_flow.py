"""The learning-rate finder, the interpretation and a sweep in a real browser, with screenshots.

The tests share one server and project and run in order: the first finds and uses a
learning rate, the second trains and interprets, the third sweeps.
"""

import re

import pytest
from tests.helpers.browser import card_shot

from torchstudio.app.models.document import ModelDocument
from torchstudio.app.store.project import Project

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]

NAME = "MNISTClassifier"
# The page position of confusion cell (predicted, target), from ECharts' own layout.
CELL_AT = """([predicted, target]) => {
  const el = document.querySelector('.ts-confusion');
  const point = getElement(el).chart.convertToPixel({seriesIndex: 0}, [predicted, target]);
  const box = el.getBoundingClientRect();
  return [box.left + point[0], box.top + point[1]];
}"""
SAMPLES_LOADED = """(marker) => {
  const images = [...document.querySelectorAll(`[data-ts=interpret-sample]`)]
    .filter((image) => image.offsetParent && image.closest(`[data-ts="${marker}"]`));
  return images.length > 0 && images.every((image) => image.complete && image.naturalWidth > 0);
}"""


def text_of(page, marker):
    return page.locator(f"[data-ts={marker}]:visible").first


def stored(server):
    project = Project.open(server.project)
    try:
        document = ModelDocument.from_json(project.model(NAME))
        return document.effective()["optimizer"], project.runs(NAME), project.model(NAME)
    finally:
        project.close()


def open_loaded(page, server):
    """The Models tab with the dataset loaded (by the module's earlier test, or now)."""
    page.goto(server.url)
    status = page.locator("[data-ts=load-status]")
    status.wait_for()
    if status.inner_text() != "loaded":
        page.get_by_role("button", name="Load", exact=True).click()
    page.locator("[data-ts=load-status]:text-is('loaded')").wait_for()
    page.get_by_role("tab", name="Models").click()


def test_find_a_learning_rate_and_use_it(server, page, shot):
    open_loaded(page, server)

    page.get_by_role("button", name="Find", exact=True).click()
    status = text_of(page, f"lr-status-{NAME}")
    status.filter(has_text="suggested learning rate").wait_for(timeout=120_000)
    suggested = float(re.search(r"suggested learning rate (\S+)", status.inner_text())[1])
    assert 1e-7 < suggested < 10
    assert stored(server)[1] == []  # the range test made no run
    shot("lr-found")
    card_shot(page, "Learning rate", "lr-finder")
    page.get_by_role("button", name="Use", exact=True).click()
    page.get_by_text("the optimizer's learning rate is now").wait_for()
    assert f"lr={suggested:.3g}" in stored(server)[0]


def test_train_and_interpret(server, page, shot):
    open_loaded(page, server)
    field = page.get_by_label("epochs", exact=True).locator("visible=true").first
    field.fill("1")
    field.press("Enter")
    field.blur()
    page.get_by_role("button", name="Train", exact=True).click()
    page.wait_for_function(
        """() => [...document.querySelectorAll('[data-ts=train-status]')]
             .some((el) => el.offsetParent && /^finished/.test(el.innerText))""",
        timeout=120_000,
    )
    page.get_by_role("button", name="Interpret", exact=True).click()
    summary = text_of(page, f"interpret-summary-{NAME}")
    summary.wait_for(timeout=120_000)
    assert re.match(r"accuracy [\d.]+% on 359 valid samples", summary.inner_text())
    page.wait_for_function(SAMPLES_LOADED, arg=f"top-losses-{NAME}")
    assert page.locator(f"[data-ts=top-losses-{NAME}] [data-ts=interpret-sample]").count() == 30
    shot("interpreted")

    # A click on a cell of the matrix shows that cell's samples (the diagonal has many).
    x, y = page.evaluate(CELL_AT, [0, 0])
    page.mouse.click(x, y)
    title = text_of(page, f"cell-title-{NAME}")
    title.wait_for()
    assert re.match(r"target 0, predicted 0: \d+ samples", title.inner_text())
    page.wait_for_function(SAMPLES_LOADED, arg=f"cell-samples-{NAME}")
    pair = page.locator(f"[data-ts=confused-pair-{NAME}]").first
    if pair.count():
        target, predicted, count = re.match(r"(\d) → (\d): (\d+)", pair.inner_text()).groups()
        pair.click()
        title.filter(has_text=f"target {target}, predicted {predicted}: {count} samples").wait_for()
    page.wait_for_function(SAMPLES_LOADED, arg=f"cell-samples-{NAME}")
    shot("cell")
    card_shot(page, "Interpretation", "interpretation")

    # After a reload it is drawn again from the project; a sample opens in the Dataset tab.
    page.reload()
    page.get_by_role("tab", name="Models").click()
    summary.wait_for()
    first = page.locator(f"[data-ts=top-losses-{NAME}] .cursor-pointer").first
    index = re.match(r"#(\d+)", first.inner_text())[1]
    first.click()
    page.wait_for_function(
        "(index) => { const img = document.querySelector('img[data-ts=sample-0]');"
        " return img && img.offsetParent && img.src.includes(`/valid/${index}/`); }",
        arg=index,
    )
    shot("sample-in-dataset-tab")


def test_sweep_in_the_model_tab(server, page, shot):
    open_loaded(page, server)
    space = page.get_by_label("search space (TOML)")
    assert '["optimizer.lr"]' in space.input_value()  # the default space
    # A parameter of the model's form, picked: its range comes from its value (0.25).
    page.locator(f"[data-ts=sweep-form-{NAME}]").click()
    page.get_by_role("option", name="dropout", exact=True).click()
    page.keyboard.press("Escape")
    page.wait_for_function(
        "(text) => [...document.querySelectorAll('textarea')].some((t) => t.value.includes(text))",
        arg='["model.dropout"]\nlow = 0.0\nhigh = 0.5\n',
    )
    space.fill(
        "[learning_rate]\nlow = 1e-3\nhigh = 3e-2\nlog = true\n\n[batch_size]\nchoices = [32, 64]\n"
        '\n["model.dropout"]\nlow = 0.0\nhigh = 0.5\n'
    )
    page.get_by_label("trials", exact=True).fill("2")
    page.get_by_label("epochs per trial", exact=True).fill("1")
    page.get_by_role("button", name="Start sweep", exact=True).click()
    status = text_of(page, f"sweep-status-{NAME}")
    page.wait_for_function(
        "(tag) => /^(finished|error)/.test(document.querySelector(`[data-ts=${tag}]`).innerText)",
        arg=f"sweep-status-{NAME}", timeout=180_000,
    )  # fmt: skip
    assert status.inner_text().startswith("finished: 2/2 trials"), status.inner_text()
    best = text_of(page, f"sweep-best-{NAME}")
    best.wait_for()
    assert re.match(
        r"best: trial \d \(run \d+\), maximized value [\d.]+ with optimizer.lr", best.inner_text()
    )
    rows = page.locator(f"[data-ts=sweep-trials-table-{NAME}] tbody tr")
    assert rows.count() == 2
    page.wait_for_function(
        "() => getElement(document.querySelector('.ts-sweep-parallel')).chart.getOption()"
        ".series[0].data.length === 2"
    )
    page.locator(".ts-sweep-importances").wait_for()  # two settings, two trials: judged
    shot("sweep")
    card_shot(page, "Sweep", "sweep")
    page.get_by_role("button", name="Make these the model's settings").click()
    page.get_by_text("the best trial's settings are now the model's").wait_for()
    lr = float(re.search(r"optimizer.lr ([\d.e-]+)", best.inner_text())[1])
    assert 1e-3 <= lr <= 3e-2 and "lr=" in stored(server)[0]
    # The form's dropout is the best trial's too, and the model's code follows it.
    dropout = float(stored(server)[2]["values"]["dropout"])
    assert 0.0 <= dropout <= 0.5 and f"dropout={dropout!r}" in stored(server)[2]["code"]
    assert f"model.dropout {dropout:.4g}" in best.inner_text()
    # The trials are runs of the model, named after their trial.
    names = [r["summary"].get("name") for r in stored(server)[1]]
    assert sorted(n for n in names if n and n.startswith("sweep trial")) == [
        "sweep trial 0",
        "sweep trial 1",
    ]
