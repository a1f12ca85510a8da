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


async def test_hand_written_code_shows_as_custom_code_and_a_module_asks_first(user):
    await user.open("/")
    await user.should_see(marker="dataset-module")
    picker = next(iter(user.find(marker="dataset-module").elements))
    origin = next(iter(user.find(marker="dataset-origin").elements))
    names = [str(label) for label in picker.options.values()]
    assert names == sorted(names, key=str.lower)
    origin.set_value("torchvision")
    await eventually(lambda: len(picker.options) > 20)
    names = [str(label).removesuffix(" (present)") for label in picker.options.values()]
    assert names == sorted(names, key=str.lower), names

    editor = next(iter(user.find(marker="dataset-code").elements))
    editor.set_value(
        "# mine\nfrom torchstudio.datasets import Digits\n\ntrain = Digits(train=True)\n"
    )
    await eventually(lambda: picker.value == "custom code", what="the picker saying custom code")
    # Picking a module would replace the user's code: asked first, and kept when they say so.
    picker.set_value("torchstudio:Digits")
    await user.should_see(marker="keep-edited")
    user.find(marker="keep-edited").click()
    await eventually(lambda: picker.value == "custom code")
    assert editor.value.startswith("# mine\n")
    picker.set_value("torchstudio:Digits")
    await user.should_see(marker="replace-edited")
    user.find(marker="replace-edited").click()
    await eventually(lambda: picker.value == "torchstudio:Digits")
    await eventually(lambda: "# mine" not in editor.value, what="the module's code back")
    assert "Digits(train=True)" in editor.value
