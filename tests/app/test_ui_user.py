"""Dataset tab logic through NiceGUI's simulated user (no browser): fast checks of the UI."""

import pytest
from nicegui import ui
from tests.helpers.waiting import eventually

from torchstudio.app.store.project import Project

pytestmark = pytest.mark.timeout(60)


def editor_code(user) -> str:
    return next(iter(user.find(marker="dataset-code").elements)).value


async def test_form_drives_the_code_and_the_project(user, tmp_path):
    await user.open("/")
    await user.should_see(marker="dataset-doc")
    assert "train = Digits(train=True)" in editor_code(user)
    user.find(marker="param-split").clear().type("0.5")
    await eventually(lambda: "Digits(train=True, split=0.5)" in editor_code(user))
    # Saved as it happens: the project on disk has it already.
    stored = Project.open(tmp_path / "demo.tsproj")
    assert stored.document("dataset")["values"] == {"split": "0.5"}
    stored.close()


async def test_choosing_another_module_shows_its_docs_and_code(user):
    await user.open("/")
    await user.should_see(marker="dataset-module")
    next(iter(user.find(marker="dataset-module").elements)).set_value("torchstudio:RandomGenerator")
    await user.should_see(marker="param-size")
    await eventually(lambda: "RandomGenerator(" in editor_code(user))
    user.find(marker="param-size").clear().type("10 +")
    field = next(iter(user.find(marker="param-size").elements))
    await eventually(lambda: field.error is not None)
    assert isinstance(field, ui.input) and "10 +" in field.error
