"""The Dataset tab's services against real workers: load, browse, re-split, analyze, errors."""

import asyncio
import io
import time

import pytest
from PIL import Image
from tests.helpers.studios import demo_studio
from tests.helpers.waiting import eventually

from torchstudio.app.store.project import Project

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
async def studio(tmp_path):
    """A real studio on a new demo project, its dataset not loaded yet."""
    async with demo_studio(tmp_path, load=False) as studio:
        yield studio


@pytest.mark.slow
async def test_load_browse_resplit_analyze_and_reopen(studio, tmp_path):
    dataset = studio.dataset
    assert dataset.definition.module == "torchstudio:Digits"
    assert "Digits(train=True)" in dataset.definition.code
    assert await dataset.load(), dataset.error
    report = dataset.report
    assert (report["train_count"], report["valid_count"]) == (1438, 359)
    assert dataset.definition.roles == ["input", "output"]
    assert "Bitmap()" in dataset.definition.renderers[0]["code"]

    png = await dataset.sample_image("train", 3, 0, (96, 64))
    assert Image.open(io.BytesIO(png)).size == (96, 64)
    started = time.perf_counter()
    for index in range(10, 20):
        await dataset.sample_image("valid", index, 0, (200, 200))
        await dataset.sample_image("valid", index, 1, (200, 200))
    per_step = (time.perf_counter() - started) / 10
    assert per_step < 0.15, f"a sample step took {per_step * 1000:.0f} ms"

    assert await dataset.configure(shuffle="all", usage_ratio=0.5)
    assert (dataset.report["train_count"], dataset.report["valid_count"]) == (719, 180)

    assert await dataset.analyze(), dataset.analysis_message
    weights = dataset.definition.analysis["weights"]
    assert len(weights) == 10 and dataset.report_png().startswith(b"\x89PNG")

    path = studio.project.path
    await studio.save_as(tmp_path / "copy.tsproj")
    await studio.open(path)  # a fresh service on the same file finds everything again
    again = studio.dataset
    assert again.definition.settings["usage_ratio"] == 0.5
    assert again.definition.analysis["weights"] == weights
    assert again.analysis_stale is None and again.report_stale is None  # made from this
    assert again.report["train_count"] == 719 and again.status == "not loaded"
    assert Project.open(tmp_path / "copy.tsproj").document("dataset")["analysis"]


@pytest.mark.slow
async def test_errors_show_the_line_and_the_app_goes_on(studio):
    dataset = studio.dataset
    dataset.set_code("import torch\n\ntrain = [torch.zeros(3)] * 4\nvalid = train[\n")
    assert not await dataset.load()
    assert dataset.status == "error" and "SyntaxError" in dataset.error
    assert dataset.error_line == 4
    dataset.set_code("x = 1\ntrain = undefined_name\n")
    assert not await dataset.load()
    assert dataset.error_line == 2 and "NameError" in dataset.error
    dataset.choose_module("torchstudio:Digits")
    dataset.set_value("split", "0.5")
    assert "Digits(train=True, split=0.5)" in dataset.definition.code
    dataset.set_value("split", "0.5 +")
    assert "split" in dataset.param_errors
    assert "split=0.5)" in dataset.definition.code  # the last valid code stays
    dataset.set_value("split", "0.5")
    assert await dataset.load()
    assert dataset.report["train_count"] == 898


@pytest.mark.slow
async def test_a_load_can_be_cancelled(studio):
    dataset = studio.dataset
    dataset.set_code("import time\ntime.sleep(60)\ntrain = [1]\n")
    job = asyncio.ensure_future(dataset.load())
    await eventually(
        lambda: dataset.status == "loading" and studio.pool.running("datasetload"),
        what="the load under way in its worker",
    )
    await dataset.cancel_load()
    assert await job is False
    assert dataset.status == "cancelled" and dataset.error is None
    dataset.choose_module("torchstudio:Digits")
    assert await dataset.load()  # a fresh worker takes over
