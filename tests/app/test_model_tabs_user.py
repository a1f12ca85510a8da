"""The Models and Dashboard tabs through NiceGUI's simulated user (no browser)."""

import pytest
from nicegui.testing.user_simulation import user_simulation
from tests.app.test_ui_user import MAIN, eventually

from torchstudio.app.demo import write_demo
from torchstudio.app.project import Project

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def user(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCHSTUDIO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TORCHSTUDIO_TEST_PROJECT", str(tmp_path / "demo.tsproj"))
    write_demo(tmp_path / "demo.tsproj").close()
    async with user_simulation(main_file=MAIN) as user:
        yield user


async def test_add_duplicate_rename_and_dashboard_rows(user, tmp_path):
    await user.open("/")
    user.find(marker="tab-models").click()
    await user.should_see(marker="model-tab-MNISTClassifier")
    await user.should_see("Build")
    user.find(marker="duplicate-MNISTClassifier").click()
    await user.should_see(marker="model-tab-MNISTClassifier_2")
    user.find(marker="model-name-MNISTClassifier_2").type(" fast")
    user.find(marker="rename-MNISTClassifier_2").click()
    await user.should_see(marker="model-tab-MNISTClassifier_2_fast")
    user.find(marker="add-model").click()
    await user.should_see(marker="model-tab-MNISTClassifier_2")
    user.find(marker="tab-dashboard").click()
    table = next(iter(user.find(marker="models-table").elements))
    await eventually(lambda: len(table.rows) == 3)
    assert {r["status"] for r in table.rows} == {"not built"}
    project = Project.open(tmp_path / "demo.tsproj")
    try:
        assert project.model_names() == [
            "MNISTClassifier",
            "MNISTClassifier 2 fast",
            "MNISTClassifier 2",
        ]
    finally:
        project.close()
