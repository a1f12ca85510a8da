"""A project received from someone else: nothing of its code runs on open; a banner lists it.

The project is made under another TORCHSTUDIO_HOME (the sender's machine) with dataset code
and a modules/ file that each write a marker file when run. The receiver opens it in the
real app and a real browser: no marker appears, the banner lists the code, Load is refused
until the user trusts the project (with a confirmation), and the trust is recorded.
"""

from __future__ import annotations

import json

import pytest
from tests.helpers.server import new_project, start_server
from tests.helpers.waiting import wait_until

pytestmark = pytest.mark.timeout(240)

DATASET = """\
import pathlib
pathlib.Path({marker!r}).write_text("the dataset code ran")
from torchstudio.datasets.digits import Digits

train = Digits(train=True)
valid = Digits(train=False)
"""
MODULE = "import pathlib\npathlib.Path({marker!r}).write_text('the module ran')\n"


@pytest.fixture
def received(tmp_path):
    """(project, dataset marker, module marker, receiver's home)."""
    sender = tmp_path / "sender"
    sender.mkdir()
    markers = tmp_path / "dataset-ran", tmp_path / "module-ran"
    code = sender / "evil_dataset.py"
    code.write_text(DATASET.format(marker=str(markers[0])))
    project = new_project(sender / "gift.tsproj", sender / "home", str(code))
    (sender / "modules").mkdir()
    (sender / "modules" / "evil_module.py").write_text(MODULE.format(marker=str(markers[1])))
    return project, *markers, tmp_path / "receiver-home"


def test_a_received_project_runs_nothing_until_trusted(received, page):
    project, dataset_marker, module_marker, home = received
    server = start_server(project, home)
    try:
        page.goto(server.url)
        banner = page.locator(".ts-trust-banner")
        banner.wait_for()
        parts = page.locator(".ts-trust-parts").inner_text()
        assert "document dataset: code" in parts and "modules/evil_module.py" in parts
        assert not dataset_marker.exists() and not module_marker.exists()

        page.get_by_role("button", name="Load").click()
        error = page.locator(".ts-load-error")
        error.get_by_text("not created or trusted on this machine").wait_for()
        assert not dataset_marker.exists() and not module_marker.exists()

        page.get_by_role("button", name="Trust and allow its code").click()
        page.get_by_role("button", name="Trust", exact=True).click()
        banner.wait_for(state="detached")
        trusted = json.loads((home / "trusted.json").read_text())
        assert str(project.resolve()) in trusted

        page.get_by_role("button", name="Load").click()
        wait_until(dataset_marker.exists, timeout=60, what="the trusted project's code run on Load")
    finally:
        server.stop()
