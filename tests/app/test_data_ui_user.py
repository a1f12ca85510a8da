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


@pytest.mark.slow
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


VARYING = """import torch

train = [(torch.arange(1, 3 + index % 7), index % 2) for index in range(40)]
"""


@pytest.fixture
def varying_file(demo_file):
    """The demo project with a dataset of token sequences of 2 to 8 tokens."""
    from torchstudio.app.store.project import Project

    project = Project.open(demo_file)
    dataset = project.document("dataset")
    project.set_document("dataset", {**dataset, "module": None, "values": {}, "code": VARYING,
                                     "code_edited": True})  # fmt: skip
    project.close()
    return demo_file


async def test_a_varying_tensor_is_reported_and_padded(varying_file, user):
    await user.open("/")
    user.find(marker="load").click()
    await eventually(lambda: shown(user, "padding-extra"), timeout=60, what="padding settings")
    varying = next(iter(user.find(marker="report-varying").elements)).text
    assert varying.startswith("tensor 0 varies in length: shape [2] to [8] (dim 0)")
    enabled = next(iter(user.find(marker="padding-enabled").elements))
    assert enabled.value and enabled.text == "Pad tensor 0 along dim 0"
    await eventually(lambda: len(shown(user, "role-2")) == 1, what="a third tensor's role")
    extra = next(iter(user.find(marker="padding-extra").elements))
    assert extra.value == "lengths"  # suggested: the lengths follow the tokens
    extra.set_value("none")
    await eventually(lambda: not shown(user, "role-2"), what="the lengths tensor gone")
    enabled = next(iter(user.find(marker="padding-enabled").elements))
    enabled.set_value(False)  # no padding: and none suggested again
    await eventually(lambda: not shown(user, "padding-extra"), what="padding off")
