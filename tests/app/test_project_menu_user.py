"""The header's Project menu through NiceGUI's simulated user: its dialogs are drawn when
first opened, and they create, open and refuse projects as before."""

import pytest
from tests.app.test_ui_user import eventually

pytestmark = pytest.mark.timeout(60)


def project_path(user) -> str:
    return next(iter(user.find(marker="project-path").elements)).text


async def test_the_dialogs_are_drawn_only_when_asked_for(user):
    await user.open("/")
    await user.should_see(marker="project-path")
    await user.should_not_see(marker="open-path")
    user.find(marker="menu-open").click()
    await user.should_see(marker="open-path")


async def test_new_demo_project_from_the_menu_opens_it(user, tmp_path):
    await user.open("/")
    target = tmp_path / "second.tsproj"
    user.find(marker="menu-create-demo").click()
    user.find(marker="create-demo-path").type(str(target))
    user.find(marker="create-demo-submit").click()
    await eventually(lambda: target.exists())
    await user.open("/")  # the page reloads for the new project
    await eventually(lambda: project_path(user) == str(target))


async def test_opening_a_missing_project_says_so_and_keeps_the_open_one(user, tmp_path):
    await user.open("/")
    before = project_path(user)
    user.find(marker="menu-open").click()
    user.find(marker="open-path").type(str(tmp_path / "nowhere.tsproj"))
    user.find(marker="open-submit").click()
    await user.should_see("nowhere.tsproj")
    assert project_path(user) == before
    # Asked again, the same dialog comes back (drawn once per page).
    user.find(marker="menu-open").click()
    assert len(user.find(marker="open-path").elements) == 1
