"""The Dataset tab's split mode and augmentation preview, through NiceGUI's simulated user."""

import pytest
from tests.helpers.waiting import eventually

pytestmark = pytest.mark.timeout(90)


def shown(user, marker: str) -> list:
    """The elements with `marker` on the page now (none yet: an empty list)."""
    try:
        return list(user.find(marker=marker).elements)
    except AssertionError:
        return []


async def test_split_mode_and_augmentation_preview(user):
    await user.open("/")
    user.find(marker="load").click()
    await eventually(lambda: shown(user, "train-count"), timeout=60, what="a load")
    split = next(iter(user.find(marker="split-how").elements))
    assert split.value == "stratified" and set(split.options) == {"stratified", "random", "ordered"}
    user.find(marker="draw-preview").click()
    await eventually(lambda: len(shown(user, "draw-image-3")) == 1, what="drawings")
    sources = [
        next(iter(user.find(marker=f"draw-image-{k}").elements)).props["src"] for k in range(4)
    ]
    assert len(set(sources)) == 4 and all(
        s.startswith("/api/dataset/draw/train/0/0/") for s in sources
    )
    user.find(marker="draw-preview").click()  # draws again: new addresses, new drawings
    await eventually(
        lambda: next(iter(user.find(marker="draw-image-0").elements)).props["src"] != sources[0],
        what="new drawings",
    )
