"""Syntax and runtime errors in every part's code, through the services and real workers.

Each message must name the chunk (`File "<part> code"`), the line and the error; after it,
a correct request on the same service (and the same worker) must succeed.
"""

from __future__ import annotations

import pytest
from badinput_helpers import expect_line
from user_code_cases import CASES, BrokenCode

from torchstudio.app.runtime.manager import WorkerError
from torchstudio.app.studio import Studio

pytestmark = [pytest.mark.timeout(240), pytest.mark.asyncio(loop_scope="session")]

TRAINING_PARTS = ("loss", "metric", "optimizer", "scheduler")


async def _dataset(studio: Studio, case: BrokenCode) -> str:
    dataset = studio.dataset
    dataset.set_code(case.code)
    assert not await dataset.load()
    assert dataset.status == "error" and dataset.error_line == case.line
    message = dataset.error or ""
    dataset.choose_module("torchstudio:Digits")
    assert await dataset.load(), dataset.error  # the app goes on: the demo loads again
    return message


async def _model(studio: Studio, case: BrokenCode) -> str:
    name = studio.project.model_names()[0]
    good = studio.project.model(name)["code"]
    studio.project.update_model(name, code=case.code)
    with pytest.raises(WorkerError) as failure:
        await studio.models.build(name)
    studio.project.update_model(name, code=good)
    report = await studio.models.build(name)
    assert report["parameters"]["total"] > 1000
    return str(failure.value)


async def _training(studio: Studio, case: BrokenCode) -> str:
    name = studio.project.model_names()[0]
    chunk = [case.code] if case.part in ("loss", "metric") else case.code
    studio.training.start(name, epochs=1, **{case.part: chunk})
    run = await studio.training.wait(name)
    assert run.status == "error"
    studio.training.start(name, epochs=1)
    again = await studio.training.wait(name)
    assert again.status == "finished", again.message
    return run.error or ""


async def _renderer(studio: Studio, case: BrokenCode) -> str:
    loader = await studio.pool.get("datasetload")
    sample = await loader.request("sample", {"split": "train", "index": 0})
    renderer = await studio.pool.get("tensorrender")
    request = {"tensor": sample[0], "size": [64, 48]}
    with pytest.raises(WorkerError) as failure:
        await renderer.request("render", {**request, "code": case.code})
    good = studio.dataset.definition.renderers[0]["code"]
    image = await renderer.request("render", {**request, "code": good})
    assert image.size == (64, 48)
    assert studio.pool.running("tensorrender") is renderer  # the same worker answered
    return str(failure.value)


async def _analyzer(studio: Studio, case: BrokenCode) -> str:
    dataset = studio.dataset
    good = dict(dataset.definition.analyzer)
    dataset.definition.analyzer = {**good, "code": case.code}
    assert not await dataset.analyze()
    assert dataset.analysis_status == "error"
    message = dataset.analysis_message
    dataset.definition.analyzer = good
    assert await dataset.analyze(), dataset.analysis_message
    assert len(dataset.definition.analysis["weights"]) == 10
    return message


RUNNERS = {"dataset": _dataset, "model": _model, "renderer": _renderer, "analyzer": _analyzer}


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
async def test_broken_code_is_named_with_its_line_and_the_app_goes_on(studio, case):
    runner = RUNNERS.get(case.part, _training if case.part in TRAINING_PARTS else None)
    assert runner is not None
    message = await runner(studio, case)
    expect_line(message, f"{case.part} code", case.line)
    assert case.error in message, message
