"""The interpretation's regression and multi-label views in a real browser, on generated data
whose answers are known.

Each model is a fixed function of its input (its one weight is multiplied by zero, so
training changes nothing): the regression model doubles its input, and the validation
targets are twice the input except three samples given known errors; the multi-label model
copies the labels it is given, except label 2, which it always says is there.
"""

import math
import re

import pytest
from tests.helpers.browser import card_shot
from tests.helpers.server import run_torchstudio, start_server

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]

REGRESSION_DATA = """import torch

def samples(count, faults):
    x = torch.linspace(-1, 1, count).reshape(count, 1)
    y = 2 * x
    for index, error in faults.items():
        y[index] += error
    return [(x[i], y[i]) for i in range(count)]

train = samples(40, {})
valid = samples(20, FAULTS)
"""
FAULTS = {3: 1.0, 7: -2.0, 11: 3.0}  # valid sample -> its target's error
DOUBLING = """import torch
from torch import nn

class Doubling(nn.Module):
    def __init__(self):
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return 2 * x + 0 * self.unused

model = Doubling()
"""
MULTILABEL_DATA = """import torch

def samples(count):
    bits = [[float(i >> b & 1) for b in range(4)] for i in range(count)]
    return [(torch.tensor(b), torch.tensor(b)) for b in bits]

train = samples(32)
valid = samples(16)
"""
LABEL_TWO_ALWAYS = """import torch
from torch import nn

class LabelTwoAlways(nn.Module):
    def __init__(self):
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(1))

    def forward(self, labels):
        logits = (2 * labels - 1) * 6
        logits[:, 2] = 6.0
        return logits + 0 * self.unused

model = LabelTwoAlways()
"""
SEGMENTATION_DATA = """import torch

def samples(count):
    found = []
    for i in range(count):
        mask = torch.zeros(8, 8, dtype=torch.int64)
        mask[:, :2] = 1
        mask[: i % 6 + 1, 6:] = 2
        found.append((mask[None].float(), mask))
    return found

train = samples(12)
valid = samples(6)
"""
TWO_AS_ONE = """import torch
from torch import nn

class TwoAsOne(nn.Module):
    def __init__(self):
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        classes = x[:, 0].round().long().clamp(0, 2)
        classes = torch.where(classes == 2, torch.ones_like(classes), classes)
        logits = nn.functional.one_hot(classes, 3).permute(0, 3, 1, 2).float() * 6
        return logits + 0 * self.unused

model = TwoAsOne()
"""
CHART_DATA = """(selector) => getElement(document.querySelector(selector)).chart.getOption()
    .series.map((series) => series.data)"""


def served(folder, data, model_name, model):
    """A server on a new project of `data` (a dataset file) and `model` (a model file)."""
    home = folder / "home"
    (folder / "data.py").write_text(data)
    (folder / f"{model_name}.py").write_text(model)
    project = folder / "p.tsproj"
    made = run_torchstudio(
        "new", "--dataset", str(folder / "data.py"), "--model", str(folder / f"{model_name}.py"),
        str(project), home=home,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    return start_server(project, home)


@pytest.fixture
def serve(tmp_path):
    """`serve(data, model_name, model)`: a server on a new project of both, stopped after."""
    started = []

    def start(data, model_name, model):
        started.append(served(tmp_path, data, model_name, model))
        return started[-1]

    yield start
    for server in started:
        server.stop()


def visible(page, marker):
    return page.locator(f"[data-ts={marker}]:visible").first


def train_and_interpret(page, server, name):
    """Load, train one epoch, interpret the run: the summary line once it is shown."""
    page.goto(server.url)
    page.get_by_role("button", name="Load", exact=True).click()
    page.locator("[data-ts=load-status]:text-is('loaded')").wait_for(timeout=60_000)
    page.get_by_role("tab", name="Models").click()
    field = page.get_by_label("epochs", exact=True).locator("visible=true").first
    field.fill("1")
    field.press("Enter")
    field.blur()
    train(page, 1)
    page.get_by_role("button", name="Interpret", exact=True).click()
    summary = visible(page, f"interpret-summary-{name}")
    summary.wait_for(timeout=120_000)
    return summary


def train(page, run):
    """Train (a new run, `run`) and wait for it to finish."""
    page.get_by_role("button", name="Train", exact=True).click()
    if run > 1:  # the earlier runs are kept
        page.get_by_role("button", name="Train, keep them").click()
    page.wait_for_function(
        """(run) => [...document.querySelectorAll('[data-ts=train-status]')].some((el) =>
             el.offsetParent && el.innerText.startsWith('finished')
             && document.body.innerText.includes(`showing run ${run} of ${run}`))""",
        arg=run,
        timeout=120_000,
    )


def samples_drawn(page, name):
    """Wait until every worst sample's picture (drawn by the dataset's renderer) is shown."""
    page.wait_for_function(
        """(marker) => {
          const images = [...document.querySelectorAll(`[data-ts=${marker}] img`)];
          return images.length > 0 && images.every((i) => i.complete && i.naturalWidth > 0);
        }""",
        arg=f"worst-{name}",
        timeout=60_000,
    )


def worst_lines(page, name):
    """(index, loss) of each worst sample, in the order shown."""
    texts = page.locator(f"[data-ts=worst-{name}] .cursor-pointer").all_inner_texts()
    return [(int(m[1]), float(m[2])) for m in (re.match(r"#(\d+) · loss (\S+)", t) for t in texts)]


def test_regression_view_scatter_residuals_and_worst_samples(serve, page, shot):
    server = serve(REGRESSION_DATA.replace("FAULTS", repr(FAULTS)), "doubling", DOUBLING)
    name = "doubling"
    summary = train_and_interpret(page, server, name)
    # Three errors of 1, 2 and 3 among 20 samples; R² against the targets' own spread.
    targets = [2 * (-1 + 2 * i / 19) + FAULTS.get(i, 0.0) for i in range(20)]
    mean = sum(targets) / 20
    r2 = 1 - 14 / sum((t - mean) ** 2 for t in targets)
    mae, rmse = 6 / 20, math.sqrt(14 / 20)
    assert summary.inner_text() == (
        f"MAE {mae:.4g} · RMSE {rmse:.4g} · R² {r2:.3f} on 20 valid samples"
    )
    # The scatter: every sample (predicted, target), 17 of them on the diagonal.
    points = page.evaluate(CHART_DATA, ".ts-scatter")[0]
    assert len(points) == 20
    assert sum(abs(p - t) < 1e-5 for p, t in points) == 17
    # The residual histogram: 20 residuals, 17 of them zero, in the bin around 0.
    counts = page.evaluate(CHART_DATA, ".ts-residuals")[0]
    assert sum(counts) == 20 and max(counts) == 17
    # The worst samples: the three faults, the largest error first, with their MSE.
    worst = worst_lines(page, name)
    assert [index for index, _ in worst[:3]] == [11, 7, 3]
    assert [loss for _, loss in worst[:3]] == [9, 4, 1]
    assert all(loss < 1e-9 for _, loss in worst[3:])
    samples_drawn(page, name)
    shot("regression")
    card_shot(page, "Interpretation", "interpretation-regression")

    # The run picker: a second run is the latest and not interpreted yet; run 1 keeps its
    # interpretation; picking run 2 computes its own.
    train(page, 2)
    visible(page, f"interpret-missing-{name}").filter(has_text="run 2 is not interpreted").wait_for(
        timeout=120_000
    )
    picker = visible(page, f"interpret-run-{name}")
    picker.click()
    page.get_by_role("option", name=re.compile(r"^run 1 ")).click()
    visible(page, f"interpret-of-{name}").filter(
        has_text="run 1, best weights of epoch 1"
    ).wait_for()
    assert summary.inner_text().startswith(f"MAE {mae:.4g}")
    picker.click()
    page.get_by_role("option", name=re.compile(r"^run 2 ")).click()
    visible(page, f"interpret-of-{name}").filter(
        has_text="run 2, best weights of epoch 1"
    ).wait_for(timeout=120_000)
    assert [index for index, _ in worst_lines(page, name)[:3]] == [11, 7, 3]


def test_multilabel_view_per_label_figures_and_worst_samples(serve, page, shot):
    server = serve(MULTILABEL_DATA, "labels", LABEL_TWO_ALWAYS)
    name = "labels"
    summary = train_and_interpret(page, server, name)
    # Label 2 is said present for all 16 samples and is in 8: exactly half are right.
    assert summary.inner_text() == "multilabel: exact match 50.0% on 16 valid samples"
    rows = page.locator(f"[data-ts=per-class-{name}] tbody tr").all_inner_texts()
    figures = {cells[0]: cells[1:] for cells in (row.split("\t") for row in rows)}
    assert figures == {
        "0": ["1.000", "1.000", "1.000", "8"],
        "1": ["1.000", "1.000", "1.000", "8"],
        "2": ["0.500", "1.000", "0.667", "8"],
        "3": ["1.000", "1.000", "1.000", "8"],
    }
    # The worst samples are the 8 without label 2 (bit 2 of their index unset), all alike.
    worst = worst_lines(page, name)
    assert sorted(index for index, _ in worst[:8]) == [0, 1, 2, 3, 8, 9, 10, 11]
    wrong = (math.log1p(math.exp(6)) + 3 * math.log1p(math.exp(-6))) / 4
    assert all(loss == pytest.approx(wrong, rel=1e-2) for _, loss in worst[:8])
    samples_drawn(page, name)
    shot("multilabel")
    card_shot(page, "Interpretation", "interpretation-multilabel")

    # A sample shown opens in the Dataset tab's sample browser at its index.
    first = page.locator(f"[data-ts=worst-{name}] .cursor-pointer").first
    index = worst[0][0]
    first.click()
    page.wait_for_function(
        "(index) => { const img = document.querySelector('img[data-ts=sample-0]');"
        " return img && img.offsetParent && img.src.includes(`/valid/${index}/`); }",
        arg=index,
    )


def test_segmentation_view_iou_and_worst_samples_with_their_masks(serve, page, shot):
    server = serve(SEGMENTATION_DATA, "masks", TWO_AS_ONE)
    name = "masks"
    summary = train_and_interpret(page, server, name)
    # Class 2 (2, 4 ... 12 pixels in samples 0..5: 42) is always called class 1 (96 pixels).
    iou_one = 96 / (96 + 42)
    mean_iou = (1 + iou_one + 0) / 3
    assert summary.inner_text() == f"segmentation: mean IoU {mean_iou:.3f} on 6 valid samples"
    rows = page.locator(f"[data-ts=per-class-{name}] tbody tr").all_inner_texts()
    figures = {cells[0]: cells[1:] for cells in (row.split("\t") for row in rows)}
    assert figures == {
        "0": ["1.000", "1.000", "1.000", "1.000", "246"],
        "1": [
            f"{iou_one:.3f}",
            f"{iou_one:.3f}",
            "1.000",
            f"{2 * iou_one / (1 + iou_one):.3f}",
            "96",
        ],
        "2": ["0.000", "0.000", "0.000", "0.000", "42"],
    }
    # The worst samples: the most class-2 pixels first, each with its target and predicted
    # masks, which differ (the class-2 corner is class 1 in the prediction).
    assert [index for index, _ in worst_lines(page, name)] == [5, 4, 3, 2, 1, 0]
    grid = page.locator(f"[data-ts=worst-{name}]")
    targets = grid.locator("[data-ts=mask-target]")
    predicted = grid.locator("[data-ts=mask-predicted]")
    assert targets.count() == predicted.count() == 6
    for n in range(6):
        assert targets.nth(n).get_attribute("src") != predicted.nth(n).get_attribute("src")
    page.wait_for_function(
        """() => [...document.querySelectorAll('[data-ts^=mask-]')]
             .every((image) => image.complete && image.naturalWidth === 8)"""
    )
    samples_drawn(page, name)
    shot("segmentation")
    card_shot(page, "Interpretation", "interpretation-segmentation")
