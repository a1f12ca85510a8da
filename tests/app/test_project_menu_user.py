"""The header's Project menu through NiceGUI's simulated user: its dialogs are drawn when
first opened, and they create, open and refuse projects as before."""

import pytest
from tests.app.test_ui_user import eventually

from torchstudio.app.demo import write_demo
from torchstudio.app.store.browse import list_folder, start_folder

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


async def test_open_browses_folders_to_a_project(user, tmp_path, monkeypatch):
    (tmp_path / "work" / "deeper").mkdir(parents=True)
    write_demo(tmp_path / "work" / "other.tsproj").close()
    (tmp_path / "work" / ".hidden").mkdir()
    (tmp_path / "work" / "notes.txt").write_text("not a project")
    monkeypatch.chdir(tmp_path)  # no recent project yet: the browser starts here
    await user.open("/")
    user.find(marker="menu-open").click()
    await user.should_see(marker="browse-folder-work")
    user.find(marker="browse-folder-work").click()
    await user.should_see(marker="browse-project-other.tsproj")
    await user.should_see(marker="browse-folder-deeper")
    await user.should_not_see("notes.txt")
    await user.should_not_see(".hidden")
    user.find(marker="browse-project-other.tsproj").click()
    await user.open("/")  # the page reloads for the opened project
    await eventually(lambda: project_path(user) == str(tmp_path / "work" / "other.tsproj"))


def test_a_folder_listing_is_sorted_and_says_why_it_cannot_list(tmp_path):
    for name in ("b", "A", ".git"):
        (tmp_path / name).mkdir()
    for name in ("z.tsproj", "a.tsproj", "x.py"):
        (tmp_path / name).write_text("")
    (tmp_path / "gone.tsproj").symlink_to(tmp_path / "missing")
    listing = list_folder(tmp_path)
    assert (listing.folders, listing.projects) == (["A", "b"], ["a.tsproj", "z.tsproj"])
    assert listing.parent == tmp_path.parent and listing.error is None
    assert list_folder("/").parent is None
    missing = list_folder(tmp_path / "nowhere")
    assert "cannot list" in missing.error and "No such file" in missing.error
    assert start_folder([str(tmp_path / "gone" / "p.tsproj"), str(tmp_path / "a.tsproj")]) == (
        tmp_path
    )
