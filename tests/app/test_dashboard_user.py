"""The Dashboard's "Trains on" column through NiceGUI's simulated user (no browser)."""

import pytest
from nicegui import app
from nicegui.testing.user_simulation import user_simulation
from tests.app.conftest import MAIN
from tests.app.test_ui_user import eventually

from torchstudio.app.models import definition
from torchstudio.app.models.document import ModelDocument
from torchstudio.app.models.views import placement_text
from torchstudio.app.store.project import Project

pytestmark = pytest.mark.timeout(60)

FIRST, SECOND = "MNISTClassifier", "MNISTClassifier 2"
HOSTS = [
    {"server": None, "devices": ["cuda:0", "cuda:1"], "address": "10.0.0.2"},
    {"server": "gpu3", "devices": "all"},
]


def place(project: Project, name: str, **placement: object) -> None:
    settings = project.model(name).get("settings") or {}
    project.update_model(name, settings={**settings, **placement})


@pytest.fixture
async def user(demo_file):
    """The demo project with two models: one on two GPUs of server gpu2, one on 2 CPUs here."""
    project = Project.open(demo_file)
    copy = definition.duplicate(ModelDocument.from_json(project.model(FIRST)))
    project.add_model(FIRST, copy.to_json())
    place(project, FIRST, server="gpu2", devices=["cuda:0", "cuda:1"], device="cuda:0")
    place(project, SECOND, server=None, devices=["cpu", "cpu"], device="cpu")
    project.close()
    async with user_simulation(main_file=MAIN) as user:
        yield user


def trains_on(user) -> dict[str, str]:
    table = next(iter(user.find(marker="models-table").elements))
    return {row["name"]: row["device"] for row in table.rows}


async def test_the_dashboard_shows_each_models_server_and_devices(user):
    await user.open("/")
    user.find(marker="tab-dashboard").click()
    await user.should_see(marker="models-table")
    await eventually(lambda: len(trains_on(user)) == 2)
    table = next(iter(user.find(marker="models-table").elements))
    assert {c["name"]: c["label"] for c in table.columns}["device"] == "Trains on"
    assert trains_on(user) == {FIRST: "gpu2: cuda:0, cuda:1", SECOND: "this machine: 2 × cpu"}
    # Another placement, made in the app as another page would: the row follows, pushed.
    project = app.state.studio.project
    place(project, SECOND, server="gpu2", devices=HOSTS, device="cpu")
    await eventually(lambda: trains_on(user)[SECOND] == "gpu2: cuda:0, cuda:1 + gpu3: all GPUs")
    place(project, FIRST, server=None, devices=None, device="cpu")
    await eventually(lambda: trains_on(user)[FIRST] == "this machine: cpu")


def test_placement_text_for_each_kind_of_placement():
    assert placement_text({}, {}) == "this machine: cpu"
    assert placement_text({"device": "cuda:1"}, {}) == "this machine: cuda:1"
    assert placement_text({"server": "gpu2", "devices": "all"}, {"gpu2": 4}) == (
        "gpu2: all GPUs (4)"
    )
    assert placement_text({"devices": "all"}, {}) == "this machine: all GPUs"
    mixed = {"devices": ["cpu", "cpu", "cpu"], "server": "box"}
    assert placement_text(mixed, {}) == "box: 3 × cpu"
    # A setting edited by hand into nonsense: said, not a crash of the Dashboard.
    assert placement_text({"devices": [{"server": None}]}, {}) == (
        "invalid devices (host 0: give its devices)"
    )


async def test_a_server_missing_from_this_app_is_shown_not_a_crash(user):
    """A project placed on a server this app does not know (made on another computer)."""
    await user.open("/")
    user.find(marker="tab-models").click()
    await user.should_see(marker="placement-server-MNISTClassifier")
    server = next(iter(user.find(marker="placement-server-MNISTClassifier").elements))
    assert server.value == "gpu2"
    assert server.options["gpu2"] == "gpu2 (not one of your servers)"
