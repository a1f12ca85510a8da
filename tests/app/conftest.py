"""Fixtures of the app tests: the module catalog, a demo project file, the simulated user."""

from pathlib import Path

import pytest
from nicegui.testing.user_simulation import user_simulation

from torchstudio.app.catalog import Catalog
from torchstudio.app.demo import write_demo

MAIN = Path(__file__).with_name("ui_main.py")


@pytest.fixture(scope="module")
def catalog():
    return Catalog()


@pytest.fixture
def project(tmp_path, catalog):
    """The demo project, opened without workers."""
    project = write_demo(tmp_path / "demo.tsproj", catalog)
    yield project
    project.close()


@pytest.fixture
def demo_file(tmp_path, monkeypatch):
    """The demo project file that `ui_main.py` opens; change it before `user` starts."""
    monkeypatch.setenv("TORCHSTUDIO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TORCHSTUDIO_TEST_PROJECT", str(tmp_path / "demo.tsproj"))
    write_demo(tmp_path / "demo.tsproj").close()
    return tmp_path / "demo.tsproj"


@pytest.fixture
async def user(demo_file):
    """NiceGUI's simulated user on the app's main page, with the demo project."""
    async with user_simulation(main_file=MAIN) as user:
        yield user
