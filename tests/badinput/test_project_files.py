"""Bad project files opened in a real studio: refused with the reason, nothing half-loaded,
and the project already open stays open and usable."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.helpers.studios import demo_studio

from torchstudio.app.store.project import ProjectError
from torchstudio.app.store.schema import SCHEMA_VERSION

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
async def studio(tmp_path):
    """A real studio on a new demo project, its dataset not loaded yet."""
    async with demo_studio(tmp_path, load=False) as studio:
        yield studio


def corrupt_pages(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[1024:] = b"\xaa" * (len(data) - 1024)  # every page after the header's is garbage
    path.write_bytes(bytes(data))


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def newer_schema(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")


def not_sqlite(path: Path) -> None:
    path.write_text("print('a python file renamed .tsproj')\n")


CASES: list[tuple[str, Callable[[Path], None], list[str]]] = [
    ("corrupt", corrupt_pages, ["damaged", "nothing was loaded"]),
    ("truncated", truncate, ["truncated", "nothing was loaded"]),
    ("newer-schema", newer_schema, ["newer TorchStudio", f"project version {SCHEMA_VERSION + 1}"]),
    ("not-a-project", not_sqlite, ["is not a TorchStudio project", "not an SQLite"]),
]


@pytest.mark.parametrize("name,damage,expected", CASES, ids=[c[0] for c in CASES])
async def test_a_bad_project_file_is_refused_and_the_open_one_stays(
    studio, tmp_path, name, damage, expected
):
    original = studio.project.path
    good = tmp_path / "good.tsproj"
    with sqlite3.connect(original) as source, sqlite3.connect(good) as copy:
        source.backup(copy)  # one self-contained file, the write-ahead log folded in
    bad = tmp_path / f"{name}.tsproj"
    shutil.copy(good, bad)
    damage(bad)
    with pytest.raises(ProjectError) as refused:
        await studio.open(bad)
    message = str(refused.value)
    assert str(bad) in message, message  # names the file
    for text in expected:
        assert text in message, message
    assert studio.project.path == original  # the open project was not replaced
    studio.project.set_meta("still", "writable")
    assert studio.project.model_names() == ["MNISTClassifier"]
    await studio.open(good)  # and a good file opens after it
    assert studio.project.model_names() == ["MNISTClassifier"]
