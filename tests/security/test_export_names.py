"""Attack: a model named `../../../../some/dir/name` made Export write outside its folder.

Model names are checked where they are made (new, duplicate, rename, and a project file
from elsewhere when it opens); the exported file's name is made of safe characters and
stays inside the export's temporary folder, which is gone once the download is read.
"""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from tests.helpers.studios import demo_studio

from torchstudio.app.store.names import file_name, inside, name_problem
from torchstudio.app.store.project import Project, ProjectError
from torchstudio.app.web.model_routes import register_model_routes

pytestmark = pytest.mark.timeout(240)

BAD_NAMES = ["../../../../some/dir/name", "a\\b", "..", "", "   ", "x\x1b[31m", "n" * 101]


def test_bad_names_are_refused_where_models_are_made(tmp_path):
    project = Project.create(tmp_path / "p.tsproj")
    try:
        project.add_model("net", {"code": "model = None"})
        for bad in BAD_NAMES:
            assert name_problem(bad) is not None, bad
            with pytest.raises(ProjectError):
                project.add_model(bad, {"code": "model = None"})
            with pytest.raises(ProjectError):
                project.rename_model("net", bad)
        assert project.model_names() == ["net"]
        assert project.add_model("my model: v2 (ünï)", {}) == "my model: v2 (ünï)"
    finally:
        project.close()


def test_bad_names_in_a_project_file_are_renamed_at_open(tmp_path):
    path = tmp_path / "gift.tsproj"
    Project.create(path).close()
    with sqlite3.connect(path) as db:
        for position, name in enumerate(["../../../../tmp/evil/name", "net", "ok\x00"]):
            db.execute(
                "INSERT INTO models (name, position, value) VALUES (?, ?, '{}')", (name, position)
            )
    project = Project.open(path)
    try:
        names = project.model_names()
        assert all(name_problem(n) is None for n in names) and "net" in names, names
        assert len(project.notices) == 2 and "../../../../tmp/evil/name" in project.notices[0]
    finally:
        project.close()


def test_file_names_made_from_model_names_stay_in_their_folder(tmp_path):
    for name in [*BAD_NAMES, "my model: v2", "ünï"]:
        made = file_name(name, ".onnx")
        assert made.endswith(".onnx") and "/" not in made and not made.startswith(".")
        assert inside(tmp_path, made).parent == tmp_path
    with pytest.raises(ValueError):
        inside(tmp_path, "../x.pt")


@pytest.mark.slow  # trains the demo model for one epoch
async def test_the_export_download_leaves_no_file_behind(tmp_path, monkeypatch):
    exports = tmp_path / "exports-tmp"
    exports.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(exports))
    async with demo_studio(tmp_path, usage_ratio=0.1) as studio:
        name = studio.project.model_names()[0]
        renamed = studio.models.rename(name, "my model: v2 (ünï)")
        studio.training.start(renamed, epochs=1)
        run = await studio.training.wait(renamed)
        assert run.status == "finished", run.error
        app = FastAPI()
        register_model_routes(studio, app)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            answer = await client.get(
                "/api/model/export", params={"name": renamed, "fmt": "pt"}, timeout=120
            )
            assert answer.status_code == 200, answer.text
            assert 'filename="my_model_v2_n.pt"' in answer.headers["content-disposition"]
            assert len(answer.content) > 1000
            missing = await client.get("/api/model/export", params={"name": "nope", "fmt": "pt"})
            assert missing.status_code == 404
    assert list(exports.iterdir()) == [], "the export left files behind"
    assert not Path("some").exists()
