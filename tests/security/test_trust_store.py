"""The trust list itself, and the app's gate on workers, without a browser.

A trusted project stays trusted through edits made in the app (re-recorded, as Jupyter
re-signs a notebook it saves) but not through code changed outside it or a move.
"""

from __future__ import annotations

import pytest
from tests.helpers.server import new_project

from torchstudio.app.store.project import Project
from torchstudio.app.store.trust import TrustStore, UntrustedProject
from torchstudio.app.studio import Studio

SENDER_CODE = "import pathlib\npathlib.Path({marker!r}).write_text('ran')\ntrain = valid = []\n"


@pytest.fixture
def received(tmp_path):
    """(project made under another home, the marker its code would write, receiver's home)."""
    sender = tmp_path / "sender"
    sender.mkdir()
    code = sender / "dataset.py"
    marker = tmp_path / "ran"
    code.write_text(SENDER_CODE.format(marker=str(marker)))
    project = new_project(sender / "gift.tsproj", sender / "home", str(code))
    return project, marker, tmp_path / "receiver-home"


def test_changed_code_makes_a_trusted_project_untrusted(received, tmp_path):
    """The trust is for the code as it was: code changed outside the app asks again."""

    project_path, dataset_marker, home = received
    store = TrustStore(home)
    project = Project.open(project_path)
    try:
        assert not store.is_trusted(project)
        store.trust(project)
        assert store.is_trusted(project)
        definition = project.document("dataset")
        project.set_document("dataset", {**definition, "code": definition["code"] + "\nx = 1\n"})
        assert not store.is_trusted(project)
        copy = project.save_as(tmp_path / "moved.tsproj")  # another path: not trusted either
        assert not store.is_trusted(copy)
        copy.close()
    finally:
        project.close()
    assert not dataset_marker.exists()


async def test_the_app_keeps_its_own_edits_trusted_and_gates_workers(tmp_path):
    """Code edited in the app stays trusted (re-recorded); edited elsewhere, nothing starts."""

    store = TrustStore(tmp_path / "home")
    path = tmp_path / "mine.tsproj"
    studio = Studio(trust=store)
    try:
        await studio.new(path, demo=True)
        assert studio.trusted and not studio.untrusted_code
        studio.dataset.set_code(studio.dataset.definition.code + "\n# edited in the app\n")
    finally:
        await studio.close()  # records the edited code as trusted
    outside = Project.open(path)
    try:
        assert store.is_trusted(outside)
        outside.set_document("dataset", {**outside.document("dataset"), "code": "import os\n"})
    finally:
        outside.close()

    studio = Studio(trust=store)
    try:
        await studio.open(path)
        assert not studio.trusted
        assert any("document dataset: code" in line for line in studio.untrusted_code)
        for script in ("datasetload", "modelbuild", "modeltrain"):
            with pytest.raises(UntrustedProject, match="trust it"):
                await studio.pool.get(script)
        assert not studio.manager.workers  # no worker was started
        studio.trust_project()
        assert studio.trusted and store.is_trusted(studio.project)
    finally:
        await studio.close()
