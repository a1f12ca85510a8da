"""Changes pushed, not polled: the bus, the project's announcements, a page's sections."""

import asyncio
import threading

import pytest

from torchstudio.app.events import ChangeBus
from torchstudio.app.pages.live import Live
from torchstudio.app.store.project import ProjectError


def test_a_change_reaches_the_subscribers_of_its_topic_only():
    bus = ChangeBus()
    seen, others = [], []
    bus.subscribe(["model"], seen.append)
    bus.subscribe(["log"], others.append)
    bus.emit("model", "A")
    assert [(c.topic, c.model) for c in seen] == [("model", "A")]
    assert others == []


def test_unsubscribing_stops_delivery_and_unknown_topics_are_refused():
    bus = ChangeBus()
    seen = []
    unsubscribe = bus.subscribe(["model", "epochs"], seen.append)
    unsubscribe()
    bus.emit("model")
    assert seen == [] and bus.subscribers("model") == 0
    with pytest.raises(ValueError, match="unknown change topic 'modle'"):
        bus.subscribe(["modle"], seen.append)  # type: ignore[list-item]


def test_a_failing_subscriber_does_not_keep_the_change_from_the_others(capsys):
    bus = ChangeBus()
    seen = []
    bus.subscribe(["model"], lambda change: 1 / 0)
    bus.subscribe(["model"], seen.append)
    bus.emit("model")
    assert len(seen) == 1
    assert "ZeroDivisionError" in capsys.readouterr().err


async def test_a_change_from_another_thread_is_delivered_on_the_loop():
    bus = ChangeBus()
    bus.bind(asyncio.get_running_loop())
    delivered = asyncio.Event()
    threads = []

    def on_change(change):
        threads.append(threading.get_ident())
        delivered.set()

    bus.subscribe(["epochs"], on_change)
    await asyncio.to_thread(bus.emit, "epochs", "A")
    await asyncio.wait_for(delivered.wait(), 5)
    assert threads == [threading.get_ident()]


def test_the_project_announces_a_write_once_it_has_committed(project):
    seen = []
    project.changes.subscribe(["model", "models", "epochs"], seen.append)
    name = project.model_names()[0]
    with project.transaction():
        project.update_model(name, status="built")
        project.update_model(name, code="x = 1")
        assert seen == []  # not before the commit
    assert [(c.topic, c.model) for c in seen] == [("model", name)]  # one per commit and model
    run = project.add_run(name, {}, dataset="", code="")
    project.add_epoch(name, run, 1, {"train_loss": 1.0})
    assert (seen[-1].topic, seen[-1].model) == ("epochs", name)


def test_a_rolled_back_write_announces_nothing(project):
    seen = []
    project.changes.subscribe(["model"], seen.append)
    name = project.model_names()[0]
    with pytest.raises(ProjectError), project.transaction():
        project.update_model(name, status="built")
        raise ProjectError("the disk is full")
    assert seen == []
    project.update_model(name, status="built")
    assert len(seen) == 1  # and the next write is announced alone


async def test_a_section_draws_once_per_frame_however_many_changes_arrive():
    bus = ChangeBus()
    live = Live(bus)
    drawn = []
    state = {"epoch": 0}
    done = asyncio.Event()

    def draw(epoch: int) -> None:
        drawn.append(epoch)
        done.set()

    live.watch(["training"], draw, lambda: state["epoch"], model="A", now=False)
    for epoch in range(1, 51):
        state["epoch"] = epoch
        bus.emit("training", "A")
    bus.emit("training", "B")  # another model's change: not this section's
    assert drawn == []  # drawn at the next frame, not per change
    await asyncio.wait_for(done.wait(), 5)
    assert drawn == [50]


async def test_a_change_that_leaves_the_signature_alone_draws_nothing():
    bus = ChangeBus()
    live = Live(bus)
    drawn = []
    live.watch(["model"], drawn.append, lambda: "same")
    assert drawn == ["same"]  # drawn at once
    bus.emit("model")
    live.flush()
    assert drawn == ["same"]


async def test_a_scope_drawn_again_drops_the_previous_drawings_subscriptions():
    bus = ChangeBus()
    live = Live(bus)
    drawn = []
    first = live.scope("panel")
    first.watch(["model"], lambda _: drawn.append("first"), now=False)
    second = live.scope("panel")  # the panel is drawn again
    second.watch(["model"], lambda _: drawn.append("second"), now=False)
    bus.emit("model")
    live.flush(), first.flush(), second.flush()
    assert drawn == ["second"]
    live.close()
    bus.emit("model")
    second.flush()
    assert drawn == ["second"] and bus.subscribers("model") == 0
