"""A model whose forward never returns: reported as not responding, Stop ends its trainer."""

import asyncio
import time

import pytest
from faultsetup import hanging_model, use_tiny_model
from tests.helpers.processes import wait_until_gone
from tests.helpers.waiting import eventually

pytestmark = pytest.mark.timeout(240)

STALL_SECONDS = 3.0


async def test_a_model_stuck_in_its_forward_is_reported_and_stopped_from_the_ui(studio, tmp_path):
    studio.manager.stall_timeout = STALL_SECONDS
    project, training, pool = studio.project, studio.training, studio.pool
    name = project.model_names()[0]
    good = studio.models.duplicate(name, "good")
    use_tiny_model(project, good, epochs=1)
    use_tiny_model(project, name, epochs=2)
    hanging = tmp_path / "hanging"
    project.update_model(name, code=hanging_model(hanging))

    training.start(name)
    # A loaded machine can report a slow start as not responding before the hang: the run
    # must be found not responding while its forward hangs.
    await eventually(hanging.exists, timeout=120, what="the model's forward hanging")
    await eventually(
        lambda: training.run(name).status == "not responding",
        timeout=120,
        what="the run reported as not responding",
        changes=studio.changes,
        topics=["training"],
    )
    run = training.run(name)
    assert "not responding: busy in train for" in run.message, run.message
    assert any("not responding" in line for _, _, line in studio.log.lines)
    worker = pool.running(f"modeltrain {name}")
    assert worker is not None and not worker.responding

    stopping = time.monotonic()
    await training.stop(name)  # what the Stop button does
    took = time.monotonic() - stopping
    assert worker.exit is not None and not worker.alive
    assert wait_until_gone([worker.process.pid], timeout=10) == []
    run = training.run(name)
    assert run.status == "stopped" and run.error is None, (run.status, run.error)
    assert "did not answer the stop request" in run.message
    assert project.model(name)["status"] == "stopped"
    assert took < 30, took  # cancel is ignored: stop, terminate, kill follow within seconds

    training.start(good)  # the app still works: another model trains
    run = await asyncio.wait_for(training.wait(good), 120)
    assert run.status == "finished", run.error
    assert [e["epoch"] for e in project.epochs(good)] == [1]
