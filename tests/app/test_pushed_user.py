"""Two pages of one app see each other's changes, pushed, with no timer.

The delay is printed, not bounded: speed is measured in benchmarks/ (bench_load.py), where a
loaded machine cannot fail a test. That no page has a timer is what proves nothing polls.
"""

import asyncio
import time

import pytest
from nicegui.elements.timer import Timer
from nicegui.testing.user import User

pytestmark = pytest.mark.timeout(60)


def element(user: User, marker: str):
    return next(iter(user.find(marker=marker).elements))


def timers(user: User) -> list[Timer]:
    assert user.client is not None
    return [e for e in user.client.elements.values() if isinstance(e, Timer)]


async def seen_within(shown, change, check) -> float:
    """Seconds from `change()` until the element `shown` (of another page) takes a value for
    which `check()` holds: its own value-change event proves it."""
    arrived = asyncio.Event()
    shown.on_value_change(lambda _: check() and arrived.set())
    started = time.perf_counter()
    change()
    await asyncio.wait_for(arrived.wait(), 5)
    return time.perf_counter() - started


async def test_a_change_in_one_page_shows_in_another_without_a_timer(user):
    other = User(user.http_client)
    await user.open("/")
    await other.open("/")
    await user.should_see(marker="dataset-module")
    await other.should_see(marker="dataset-module")
    assert timers(user) == [] and timers(other) == []  # nothing polls

    code = element(other, "dataset-code")
    elapsed = await seen_within(
        code,
        lambda: element(user, "dataset-module").set_value("torchstudio:RandomGenerator"),
        lambda: "RandomGenerator(" in code.value,
    )
    print(f"the other page saw the module after {elapsed * 1000:.0f} ms")
    await other.should_see(marker="param-size")  # its form follows too

    # And back the other way, for a model's code typed in the second page.
    other.find(marker="tab-models").click()
    user.find(marker="tab-models").click()
    await other.should_see(marker="model-code-MNISTClassifier")
    await user.should_see(marker="model-code-MNISTClassifier")
    code = element(user, "model-code-MNISTClassifier")
    elapsed = await seen_within(
        code,
        lambda: element(other, "model-code-MNISTClassifier").set_value(
            "model = None  # elsewhere\n"
        ),
        lambda: "elsewhere" in code.value,
    )
    print(f"the first page saw the code after {elapsed * 1000:.0f} ms")
    assert timers(user) == [] and timers(other) == []
