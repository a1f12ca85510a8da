"""Attacks on the trust record: code that changes behind the user's back stays untrusted.

- Another process edits the open project's code: the app's next save must not re-sign
  it (it did within 3 s); the project becomes untrusted again and nothing runs.
- A module file of the project's modules/ folder or of a workdir changes while open, or a
  folder named like a library (`sklearn/`) appears in the workdir: the same.
- A project file carries its own SQLite trigger that rewrites the model code once the
  app writes: the trigger (and any view) is dropped at open, with a notice.
- Workers do not import from the app's current folder (`python -P`).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from tests.helpers.waiting import eventually

from torchstudio.app.runtime.manager import WorkerError, WorkerManager
from torchstudio.app.store.project import Project
from torchstudio.app.store.trust import TrustStore, UntrustedProject, code_parts
from torchstudio.app.studio import Studio

pytestmark = pytest.mark.timeout(120)

EVIL = "import pathlib\npathlib.Path({marker!r}).write_text('ran')\n"


async def open_studio(tmp_path: Path, **new) -> tuple[Studio, TrustStore]:
    store = TrustStore(tmp_path / "home")
    studio = Studio(trust=store, env={"TORCHSTUDIO_CACHE": str(tmp_path / "cache")})
    await studio.start()
    await studio.new(tmp_path / "mine.tsproj", demo=True)
    assert studio.trusted
    return studio, store


def outside_edit(path: Path, code: str) -> None:
    """Another process's write: its own SQLite connection."""
    db = sqlite3.connect(path)
    with db:
        (value,) = db.execute("SELECT value FROM documents WHERE name = 'dataset'").fetchone()
        document = json.loads(value)
        document["code"] = code
        db.execute("UPDATE documents SET value = ? WHERE name = 'dataset'", (json.dumps(document),))
    db.close()


async def assert_untrusted(studio: Studio, store: TrustStore, seen: str) -> None:
    """Nothing runs (the gate reads the code again), the banner lists `seen`, not re-signed."""
    for script in ("datasetload", "modelbuild", "modeltrain"):
        with pytest.raises(UntrustedProject):
            await studio.pool.get(script)
    assert not studio.trusted
    assert any(seen in line for line in studio.untrusted_code), studio.untrusted_code
    assert not studio.manager.workers
    reopened = Project.open(studio.project.path)
    try:
        assert not store.is_trusted(reopened), "the outside change was signed as trusted"
    finally:
        reopened.close()


async def test_an_outside_edit_while_open_is_not_re_signed(tmp_path):
    marker = tmp_path / "ran"
    studio, store = await open_studio(tmp_path)
    try:
        outside_edit(studio.project.path, EVIL.format(marker=str(marker)))
        # The app's own activity saves (logs, an edit of a model): it used to re-sign then.
        name = studio.project.model_names()[0]
        studio.project.update_model(name, code=studio.project.model(name)["code"] + "\n# mine\n")
        studio.log.add("app", "some activity")
        await eventually(lambda: not studio.trusted, timeout=10, what="the project untrusted")
        await assert_untrusted(studio, store, "document dataset: code")
        assert any("changed outside the app" in line for _, _, line in studio.log.lines)
        assert not marker.exists()
        studio.trust_project()  # the user read it and agrees: it runs again
        assert studio.trusted and store.is_trusted(studio.project)
    finally:
        await studio.close()


async def test_module_and_workdir_files_changed_while_open(tmp_path):
    studio, store = await open_studio(tmp_path)
    modules = studio.project.path.parent / "modules"
    try:
        modules.mkdir()
        (modules / "helpers.py").write_text("x = 1\n")
        await assert_untrusted(studio, store, "modules/helpers.py")
        studio.trust_project()
        (modules / "helpers.py").write_text("x = 2\n")  # an edit of a file already trusted
        await assert_untrusted(studio, store, "modules/helpers.py")
        studio.trust_project()

        # A folder named like a library in the dataset's workdir (first on its import path).
        workdir = tmp_path / "work"
        workdir.mkdir()
        studio.dataset.definition.workdir = str(workdir)
        studio.dataset._changed()  # the app's own edit: the folder it names is trusted
        assert studio.check_trust()
        (workdir / "sklearn").mkdir()
        (workdir / "sklearn" / "__init__.py").write_text("import os\n")
        await assert_untrusted(studio, store, f"workdir {workdir}/sklearn/__init__.py")
    finally:
        await studio.close()


def test_a_workdir_is_part_of_the_fingerprint(tmp_path):
    workdir = tmp_path / "work"
    (workdir / "sklearn").mkdir(parents=True)
    (workdir / "data-files").mkdir()  # no import can name it: not read
    (workdir / "data-files" / "a.py").write_text("x = 1\n")
    project = Project.create(tmp_path / "p.tsproj")
    try:
        project.set_document("dataset", {"code": "train = []", "workdir": str(workdir)})
        store = TrustStore(tmp_path / "home")
        store.trust(project)
        (workdir / "sklearn" / "__init__.py").write_text("import os\n")
        assert not store.is_trusted(project)
        where = [w for w, _ in code_parts(project)]
        assert f"workdir {workdir}/sklearn/__init__.py" in where
        assert f"import path: {workdir}/" in where  # the folder itself, for the banner
        assert not any("data-files" in w for w in where)
    finally:
        project.close()


def make_trigger_project(path: Path) -> None:
    project = Project.create(path)
    project.add_model("net", {"code": "model = 'as reviewed'"})
    project.close()
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TRIGGER rewrite AFTER UPDATE ON models BEGIN "
        "UPDATE models SET value = json_set(value, '$.code', 'import os  # evil') "
        "WHERE id = NEW.id AND json_extract(value, '$.code') != 'import os  # evil'; END;"
        "CREATE VIEW sneaky AS SELECT * FROM models;"
    )
    db.close()


def test_triggers_and_views_are_dropped_at_open(tmp_path):
    path = tmp_path / "gift.tsproj"
    make_trigger_project(path)
    project = Project.open(path)
    try:
        assert any("trigger 'rewrite'" in n and "view 'sneaky'" in n for n in project.notices)
        project.update_model("net", code="model = 'edited in the app'")
        assert project.model("net")["code"] == "model = 'edited in the app'"
        with sqlite3.connect(path) as db:
            assert (
                db.execute(
                    "SELECT name FROM sqlite_master WHERE type != 'table' "
                    "AND name NOT LIKE 'sqlite_%'"
                ).fetchall()
                == []
            )
    finally:
        project.close()


async def test_the_studio_reports_dropped_triggers(tmp_path):
    path = tmp_path / "gift.tsproj"
    make_trigger_project(path)
    studio = Studio(trust=TrustStore(tmp_path / "home"))
    await studio.start()
    try:
        await studio.open(path)
        assert any("trigger 'rewrite'" in line for _, _, line in studio.log.lines)
    finally:
        await studio.close()


async def test_workers_do_not_import_from_the_apps_current_folder(tmp_path, monkeypatch):
    marker = tmp_path / "ran"
    (tmp_path / "planted_module.py").write_text(EVIL.format(marker=str(marker)))
    monkeypatch.chdir(tmp_path)
    async with WorkerManager() as manager:
        worker = await manager.start_worker("datasetload")
        with pytest.raises(WorkerError, match="planted_module"):
            await worker.request("load", {"code": "import planted_module\ntrain = []\n"})
    assert not marker.exists()
