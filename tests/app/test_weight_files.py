"""Large weights as files beside the project: written once, never lost, never left behind."""

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

import numpy as np
import pytest
from safetensors.numpy import save

from torchstudio.app.store import weightfiles
from torchstudio.app.store.project import Project, ProjectError


def weights(fill: float, values: int = 400_000) -> bytes:
    """Safetensors of `values` float32s (1.6 MB: over the file threshold by default)."""
    return save({"w": np.full(values, fill, dtype=np.float32)})


def trained_project(path, runs: int = 1) -> Project:
    project = Project.create(path)
    project.add_model("m", {"code": "model = 1"})
    for _ in range(runs):
        project.add_run("m", {}, dataset="d", code="c")
    return project


def files(project: Project) -> list[str]:
    folder = project.weights_folder
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def test_large_weights_are_one_file_and_small_ones_stay_in_the_project(tmp_path):
    path = tmp_path / "p.tsproj"
    project = trained_project(path)
    small = weights(1.0, values=1000)
    project.set_weights("m", 1, "best", 1, small)
    assert not project.weights_folder.exists()  # small weights need no folder
    big = weights(2.0)
    project.set_weights("m", 1, "best", 2, big)
    (name,) = files(project)
    assert weightfiles.NAME.fullmatch(name) and name.startswith("run1-best-e2-")
    assert (project.weights_folder / name).read_bytes() == big
    # The project file does not hold the bytes a second time.
    project.close()
    assert os.path.getsize(path) < len(big)  # 64 KiB pages: about 1 MiB when empty
    project = Project.open(path)
    assert project.weights("m", "best") == (2, big)
    assert project.weights_epoch("m", "best") == 2

    newer = weights(3.0)  # a new version: a new file, the old one gone once replaced
    project.set_weights("m", 1, "best", 3, newer)
    (newer_name,) = files(project)
    assert newer_name != name and project.weights("m", "best") == (3, newer)
    project.set_weights("m", 1, "best", 4, small)  # back under the threshold: inside again
    assert files(project) == [] and not project.weights_folder.exists()
    assert project.weights("m", "best") == (4, small)


def test_deleting_runs_and_models_removes_their_files_only(tmp_path):
    project = trained_project(tmp_path / "p.tsproj", runs=2)
    for run in (1, 2):
        project.set_weights("m", run, "best", 1, weights(run))
        project.set_weights("m", run, "checkpoint", 1, weights(run + 10))
    stranger = project.weights_folder / "notes.txt"  # a user's own file in the folder
    stranger.write_text("kept")
    assert len(files(project)) == 5
    project.delete_runs("m", keep=[2])
    assert [n.split("-")[0] for n in files(project) if n != "notes.txt"] == ["run2", "run2"]
    assert project.weights("m", "checkpoint", 2) == (1, weights(12))
    project.delete_model("m")
    assert files(project) == ["notes.txt"]


def test_save_as_takes_the_files_along_and_the_copies_stand_alone(tmp_path):
    project = trained_project(tmp_path / "p.tsproj")
    project.set_weights("m", 1, "checkpoint", 5, weights(5.0))
    copy = project.save_as(tmp_path / "copy.tsproj")
    assert files(copy) == files(project)
    project.delete_model("m")  # the original's files go; the copy's stay
    assert files(project) == []
    assert copy.weights("m", "checkpoint") == (5, weights(5.0))


def test_a_project_copied_without_its_folder_says_where_the_weights_are(tmp_path):
    project = trained_project(tmp_path / "p.tsproj")
    project.set_weights("m", 1, "best", 3, weights(3.0))
    project.close()
    (tmp_path / "moved").mkdir()
    moved = tmp_path / "moved" / "p.tsproj"
    shutil.copyfile(tmp_path / "p.tsproj", moved)
    alone = Project.open(moved)
    assert alone.weights_epoch("m", "best") == 3  # the run and its history are all there
    with pytest.raises(ProjectError) as error:
        alone.weights("m", "best")
    message = str(error.value)
    assert "best weights of 'm'" in message and "is missing" in message
    assert "p.tsproj-weights" in message
    # Another file of the right name but the wrong size is not taken for them either.
    name = files(Project.open(tmp_path / "p.tsproj"))[0]
    alone.weights_folder.mkdir()
    (alone.weights_folder / name).write_bytes(weights(3.0)[:-4])
    with pytest.raises(ProjectError, match="the project says"):
        alone.weights("m", "best")


def test_a_name_from_a_project_file_cannot_reach_outside_its_folder(tmp_path):
    path = tmp_path / "p.tsproj"
    project = trained_project(path)
    project.close()
    secret = tmp_path / "secret.safetensors"
    secret.write_bytes(weights(9.0))
    db = sqlite3.connect(path)
    db.execute("INSERT INTO weights VALUES (1, 'best', 1, NULL, '../secret.safetensors', ?)",
               (secret.stat().st_size,))  # fmt: skip
    db.commit()
    db.close()
    project = Project.open(path)
    with pytest.raises(ProjectError, match="not a weights file name"):
        project.weights("m", "best")
    project.delete_model("m")
    assert secret.exists()


def test_orphans_of_an_interrupted_save_are_removed_once_old(tmp_path):
    project = trained_project(tmp_path / "p.tsproj")
    project.set_weights("m", 1, "best", 1, weights(1.0))
    (kept,) = files(project)
    orphan = weightfiles.new_name(1, "best", 2)  # written, never committed
    weightfiles.write(project.weights_folder, orphan, weights(2.0))
    part = project.weights_folder / (weightfiles.new_name(1, "checkpoint", 2) + ".part")
    part.write_bytes(b"half")
    project.close()
    Project.open(tmp_path / "p.tsproj").close()  # young: maybe another process's save
    assert len(files(project)) == 3
    old = time.time() - weightfiles.ORPHAN_AGE_S - 1
    for name in (orphan, part.name):
        os.utime(project.weights_folder / name, (old, old))
    reopened = Project.open(tmp_path / "p.tsproj")
    assert files(reopened) == [kept]
    assert reopened.weights("m", "best") == (1, weights(1.0))


SAVER = """
import sys
import numpy as np
from safetensors.numpy import save
from torchstudio.app.store.project import Project
project = Project.open(sys.argv[1])
epoch = 0
while True:
    epoch += 1
    data = save({"w": np.full(400_000, float(epoch), dtype=np.float32)})
    project.set_weights("m", 1, "checkpoint", epoch, data)
    if epoch == 3:
        print("saved 3", flush=True)  # the test kills it from here on, at any moment
"""


def test_a_saver_killed_at_any_moment_leaves_a_complete_checkpoint(tmp_path):
    path = tmp_path / "p.tsproj"
    trained_project(path).close()
    for delay in (0.0, 0.013, 0.029, 0.047):
        saver = subprocess.Popen(
            [sys.executable, "-c", SAVER, str(path)], stdout=subprocess.PIPE, text=True
        )
        assert saver.stdout.readline().strip() == "saved 3"
        time.sleep(delay)  # where in a save the kill lands, not a wait for a state
        saver.send_signal(signal.SIGKILL)
        saver.wait()
        project = Project.open(path)
        epoch, data = project.weights("m", "checkpoint")
        assert epoch >= 3 and data == save({"w": np.full(400_000, float(epoch), np.float32)})
        project.close()
    old = time.time() - weightfiles.ORPHAN_AGE_S - 1
    for leftover in project.weights_folder.iterdir():
        os.utime(leftover, (old, old))
    project = Project.open(path)
    assert len(files(project)) == 1  # only the file the row names is left
