"""Attack: malformed project files answered with tracebacks.

Text that is not JSON, JSON nested 100,000 deep, a list where a mapping belongs, a number
where code belongs, and a project path that is a symbolic link loop: `torchstudio run`
answers each with one line naming the document and the problem (no traceback), and the
app refuses to open it with that line while the project already open stays open.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.helpers.server import run_torchstudio
from tests.helpers.studios import demo_studio

from torchstudio.app.store.project import Project, ProjectError

pytestmark = pytest.mark.timeout(240)

DEEP = "[" * 100_000 + "]" * 100_000


def set_text(table: str, text: str, where: str = "") -> Callable[[Path], None]:
    def damage(path: Path) -> None:
        with sqlite3.connect(path) as db:
            db.execute(f"UPDATE {table} SET value = ? {where}", (text,))

    return damage


def set_field(key: str, value: object) -> Callable[[Path], None]:
    def damage(path: Path) -> None:
        with sqlite3.connect(path) as db:
            (text,) = db.execute("SELECT value FROM models LIMIT 1").fetchone()
            db.execute(
                "UPDATE models SET value = ?", (json.dumps({**json.loads(text), key: value}),)
            )

    return damage


def set_dataset_field(key: str, value: object) -> Callable[[Path], None]:
    def damage(path: Path) -> None:
        with sqlite3.connect(path) as db:
            (text,) = db.execute("SELECT value FROM documents WHERE name = 'dataset'").fetchone()
            document = {**json.loads(text), key: value}
            db.execute(
                "UPDATE documents SET value = ? WHERE name = 'dataset'", (json.dumps(document),)
            )

    return damage


def symlink_loop(path: Path) -> None:
    path.unlink()
    os.symlink(path.with_name("other.tsproj"), path)
    os.symlink(path, path.with_name("other.tsproj"))


CASES = {
    "bad json": (
        set_text("documents", "{not json", "WHERE name = 'dataset'"),
        "document 'dataset' is not valid JSON",
    ),
    "deep nesting": (set_text("models", DEEP), "nested too deeply"),
    "a list for a mapping": (
        set_text("documents", "[1, 2]", "WHERE name = 'dataset'"),
        "document 'dataset' must be a JSON object, not list",
    ),
    "a number for code": (set_field("code", 42), "code must be code text, not int 42"),
    "a text for values": (
        set_dataset_field("values", "oops"),
        "values must be a mapping of parameter texts, not str",
    ),
    "symlink loop": (symlink_loop, "cannot use the project path"),
}


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("malformed")
    from torchstudio.app.demo import write_demo

    write_demo(folder / "demo.tsproj").close()
    return folder / "demo.tsproj"


def damaged(demo_file: Path, folder: Path, case: str) -> Path:
    path = folder / "damaged.tsproj"
    path.write_bytes(demo_file.read_bytes())
    CASES[case][0](path)
    return path


@pytest.mark.parametrize("case", list(CASES))
def test_torchstudio_run_answers_in_one_line(demo_file, tmp_path, case):
    path = damaged(demo_file, tmp_path, case)
    done = run_torchstudio("run", str(path), "--epochs", "1", home=tmp_path / "home", timeout=180)
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert lines[0].startswith("torchstudio run: ") and CASES[case][1] in lines[0], lines[0]
    assert not done.stdout.strip()


async def test_the_app_refuses_each_and_keeps_its_project(demo_file, tmp_path):
    async with demo_studio(tmp_path, load=False) as studio:
        before = studio.project
        for case, (_, expected) in CASES.items():
            folder = tmp_path / case.replace(" ", "-")
            folder.mkdir()
            path = damaged(demo_file, folder, case)
            with pytest.raises(ProjectError) as refused:
                await studio.open(path)
            assert expected in str(refused.value) and "\n" not in str(refused.value), case
            assert studio.project is before
        assert before.model_names()  # still open and readable
        reopened = Project.open(before.path)
        reopened.close()
