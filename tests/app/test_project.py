"""The project store: round trip, migration, damaged files refused, kills leave a valid file."""

import os
import signal
import sqlite3
import subprocess
import sys

import numpy as np
import pytest
from safetensors.numpy import save

from torchstudio.app.store.project import Project, ProjectError
from torchstudio.app.store.schema import APPLICATION_ID, SCHEMA_VERSION

WEIGHTS = save({"fc.weight": np.arange(6, dtype=np.float32).reshape(2, 3)})

DATASET = {
    "module": {"kind": "datasets", "name": "Digits", "origin": "torchstudio"},
    "values": {"split": "0.7"},
    "code": "from torchstudio.datasets import Digits\ntrain = Digits()\n",
    "settings": {"training_samples": 100, "shuffle": "train", "usage_ratio": 0.5},
    "roles": ["input", "output"],
    "renderers": [{"name": "Bitmap", "code": "renderer = 1"}, {"name": "Labels", "code": "x"}],
    "analysis": {"weights": [1.0, 2.0], "samples": 10},
}


def test_round_trip_of_everything(tmp_path):
    path = tmp_path / "p.tsproj"
    project = Project.create(path)
    project.set_document("dataset", DATASET)
    project.set_blob("analysis_report", b"\x89PNG...")
    name = project.add_model("MNISTClassifier", {"code": "model = 1", "settings": {"epochs": 3}})
    second = project.add_model("MNISTClassifier", {"code": "model = 2"})
    assert (name, second) == ("MNISTClassifier", "MNISTClassifier 2")
    project.update_model(name, build={"parameters": 42})
    run = project.add_run(name, {"epochs": 3}, dataset="d1", code="c1")
    assert run == 1
    for epoch in range(3):
        project.add_epoch(name, run, epoch, {"train_loss": 1.0 / (epoch + 1), "valid_metric": 0.5})
    project.set_weights(name, run, "best", 1, WEIGHTS)
    project.set_weights(name, run, "checkpoint", 2, b"checkpoint bytes")
    project.update_run(name, run, status="finished", summary={"best_epoch": 1})
    project.add_logs([(1.0, "datasetload", "hello"), (2.0, "app", "world")])
    project.close()

    project = Project.open(path)
    assert project.document("dataset") == DATASET
    assert project.blob("analysis_report") == b"\x89PNG..."
    assert project.model_names() == ["MNISTClassifier", "MNISTClassifier 2"]
    assert project.model(name) == {
        "code": "model = 1",
        "settings": {"epochs": 3},
        "build": {"parameters": 42},
    }
    assert [e["epoch"] for e in project.epochs(name)] == [0, 1, 2]
    assert project.epochs(name)[2]["train_loss"] == pytest.approx(1 / 3)
    assert project.weights(name, "best") == (1, WEIGHTS)
    assert project.weights(name, "checkpoint") == (2, b"checkpoint bytes")
    (stored,) = project.runs(name)
    assert stored["number"] == 1 and stored["status"] == "finished"
    assert stored["settings"] == {"epochs": 3} and stored["summary"] == {"best_epoch": 1}
    assert (stored["dataset"], stored["code"]) == ("d1", "c1")
    assert project.logs() == [(1.0, "datasetload", "hello"), (2.0, "app", "world")]
    project.rename_model(second, "small")
    with pytest.raises(ProjectError, match="already exists"):
        project.rename_model("small", name)
    project.delete_model(name)  # its epochs and weights go with it
    assert project.model_names() == ["small"]
    copy = project.save_as(tmp_path / "copy.tsproj")
    assert copy.document("dataset") == DATASET and copy.model_names() == ["small"]
    copy.close()
    project.close()


def test_best_weights_must_be_safetensors(tmp_path):
    project = Project.create(tmp_path / "p.tsproj")
    project.add_model("m", {})
    run = project.add_run("m", {}, dataset="", code="")
    with pytest.raises(ValueError, match="not safetensors"):
        project.set_weights("m", run, "best", 0, b"\x80\x04pickle")
    with pytest.raises(ValueError, match="truncated"):
        project.set_weights("m", run, "best", 0, WEIGHTS[:-4])
    assert project.weights("m", "best") is None


def test_failed_transaction_changes_nothing(tmp_path):
    project = Project.create(tmp_path / "p.tsproj")
    project.set_document("dataset", {"a": 1})
    with pytest.raises(RuntimeError), project.transaction():
        project.set_document("dataset", {"a": 2})
        project.add_model("m", {})
        raise RuntimeError("interrupted")
    assert project.document("dataset") == {"a": 1} and project.model_names() == []


V1_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE documents (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE blobs (name TEXT PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE models (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, position INTEGER NOT NULL,
    value TEXT NOT NULL, best_epoch INTEGER, best_weights BLOB, checkpoint_epoch INTEGER,
    checkpoint BLOB);
CREATE TABLE epochs (model_id INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    epoch INTEGER NOT NULL, value TEXT NOT NULL, PRIMARY KEY (model_id, epoch));
CREATE TABLE logs (id INTEGER PRIMARY KEY, time REAL NOT NULL, line TEXT NOT NULL);
"""


def test_migration_from_version_1(tmp_path):
    path = tmp_path / "old.tsproj"
    db = sqlite3.connect(path)
    db.executescript(V1_SCHEMA)
    db.execute(f"PRAGMA application_id={APPLICATION_ID}")
    db.execute("PRAGMA user_version=1")
    db.execute("INSERT INTO documents VALUES ('dataset', '{\"code\": \"train = []\"}')")
    db.execute(
        "INSERT INTO models VALUES (1, 'old', 0, '{\"code\": \"model = 1\"}', 4, ?, 5, ?)",
        (WEIGHTS, b"ckpt"),
    )
    db.execute("INSERT INTO epochs VALUES (1, 0, '{\"train_loss\": 2.0}')")
    db.execute("INSERT INTO logs (time, line) VALUES (1.5, 'old line')")
    db.commit()
    db.close()

    project = Project.open(path)
    assert project.document("dataset") == {"code": "train = []"}
    assert project.model("old") == {"code": "model = 1"}
    assert project.weights("old", "best") == (4, WEIGHTS)
    assert project.weights("old", "checkpoint") == (5, b"ckpt")
    assert project.epochs("old") == [{"train_loss": 2.0, "epoch": 0}]
    assert project.logs() == [(1.5, "app", "old line")]
    project.delete_model("old")  # foreign keys still cascade after the table rebuild
    project.close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert db.execute("SELECT COUNT(*) FROM epochs").fetchone()[0] == 0
    db.close()


# Version 2's tables (the whole v2 SCHEMA as it was): one list of epochs and one
# best/checkpoint per model.
V2_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE documents (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE blobs (name TEXT PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE models (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,
    position INTEGER NOT NULL, value TEXT NOT NULL);
CREATE TABLE epochs (model_id INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    epoch INTEGER NOT NULL, value TEXT NOT NULL, PRIMARY KEY (model_id, epoch));
CREATE TABLE weights (model_id INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    kind TEXT NOT NULL, epoch INTEGER NOT NULL, data BLOB NOT NULL,
    PRIMARY KEY (model_id, kind));
CREATE TABLE logs (id INTEGER PRIMARY KEY, time REAL NOT NULL, source TEXT NOT NULL,
    line TEXT NOT NULL);
"""


def test_new_files_take_large_pages_and_old_ones_keep_theirs(tmp_path):
    def pages(project):
        db = project._db
        return [
            db.execute(f"PRAGMA {name}").fetchone()[0]
            for name in ("page_size", "wal_autocheckpoint")
        ]

    new = Project.create(tmp_path / "new.tsproj")
    assert pages(new) == [65536, 64]  # the log copied every 4 MiB, as at 4 KiB pages
    new.close()
    assert pages(Project.open(tmp_path / "new.tsproj")) == [65536, 64]
    old = tmp_path / "old.tsproj"
    db = sqlite3.connect(old)
    db.executescript(V1_SCHEMA)
    db.execute(f"PRAGMA application_id={APPLICATION_ID}")
    db.execute("PRAGMA user_version=1")
    db.commit()
    db.close()
    opened = Project.open(old)
    assert pages(opened) == [4096, 1024]
    opened.add_model("kept", {"code": "model = 1\n", "settings": {}})
    copy = opened.save_as(tmp_path / "copy.tsproj")  # WAL mode: the copy keeps 4 KiB pages
    assert pages(copy) == [4096, 1024] and copy.model_names() == ["kept"]


def test_migration_from_version_2_makes_run_1(tmp_path):
    path = tmp_path / "v2.tsproj"
    db = sqlite3.connect(path)
    db.executescript(V2_SCHEMA)
    db.execute(f"PRAGMA application_id={APPLICATION_ID}")
    db.execute("PRAGMA user_version=2")
    trained = '{"code": "model = 1", "status": "finished", "settings_used": {"epochs": 2}}'
    db.execute("INSERT INTO models VALUES (1, 'trained', 0, ?)", (trained,))
    db.execute("INSERT INTO models VALUES (2, 'fresh', 1, '{\"code\": \"model = 2\"}')")
    for epoch in (1, 2):
        db.execute("INSERT INTO epochs VALUES (1, ?, ?)", (epoch, f'{{"valid_loss": {epoch}}}'))
    db.execute("INSERT INTO weights VALUES (1, 'best', 2, ?)", (WEIGHTS,))
    db.execute("INSERT INTO weights VALUES (1, 'checkpoint', 2, ?)", (b"ckpt",))
    db.commit()
    db.close()

    project = Project.open(path)
    (run,) = project.runs("trained")
    assert run["number"] == 1 and run["status"] == "finished"
    assert run["settings"] == {"epochs": 2} and run["dataset"] == ""  # not recorded in v2
    assert project.epochs("trained", 1) == [
        {"valid_loss": 1, "epoch": 1},
        {"valid_loss": 2, "epoch": 2},
    ]
    assert project.weights("trained", "best", 1) == (2, WEIGHTS)
    assert project.weights("trained", "checkpoint", 1) == (2, b"ckpt")
    assert project.runs("fresh") == [] and project.epochs("fresh") == []
    # A new run is numbered after the migrated one and starts empty.
    assert project.add_run("trained", {}, dataset="d", code="c") == 2
    assert project.epochs("trained") == [] and project.weights("trained", "best") is None
    assert len(project.epochs("trained", 1)) == 2
    project.delete_model("trained")  # runs, epochs and weights cascade after the rebuild
    project.close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 4
    counts = [db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("runs", "epochs")]
    assert counts == [0, 0]
    db.close()


def test_runs_keep_their_own_epochs_and_weights(tmp_path):
    project = Project.create(tmp_path / "p.tsproj")
    project.add_model("m", {})
    first = project.add_run("m", {"lr": 0.1}, dataset="d", code="c")
    project.add_epoch("m", first, 1, {"valid_loss": 1.0})
    project.set_weights("m", first, "checkpoint", 1, b"first")
    second = project.add_run("m", {"lr": 0.2}, dataset="d", code="c")
    project.add_epoch("m", second, 1, {"valid_loss": 0.5})
    assert (first, second) == (1, 2)
    assert project.weights("m", "checkpoint") is None  # the latest run has none of its own
    assert project.weights("m", "checkpoint", first) == (1, b"first")
    project.clear_epochs("m", second)
    assert project.epochs("m") == [] and len(project.epochs("m", first)) == 1
    with pytest.raises(KeyError, match="no run 7"):
        project.add_epoch("m", 7, 1, {})
    project.delete_runs("m", keep=[second])
    assert [r["number"] for r in project.runs("m")] == [2]
    assert project.weights("m", "checkpoint", first) is None
    project.close()


def _big_project(path):
    project = Project.create(path)
    project.set_document("dataset", DATASET)
    project.add_model("m", {"code": "model = 1"})
    run = project.add_run("m", {}, dataset="", code="")
    project.set_weights("m", run, "checkpoint", 0, os.urandom(200_000))
    project.close()  # the last connection checkpoints the log into the file


def test_truncated_file_is_refused(tmp_path):
    path = tmp_path / "p.tsproj"
    _big_project(path)
    size = path.stat().st_size
    with open(path, "r+b") as file:
        file.truncate(size // 2)
    with pytest.raises(ProjectError, match="truncated.*nothing was loaded"):
        Project.open(path)


def test_damaged_file_is_refused(tmp_path):
    path = tmp_path / "p.tsproj"
    _big_project(path)
    with open(path, "r+b") as file:
        file.seek(100)  # the schema table's page, just after the file header
        file.write(os.urandom(3000))
    with pytest.raises(ProjectError, match="damaged"):
        Project.open(path)


def test_foreign_and_newer_files_are_refused(tmp_path):
    text = tmp_path / "notes.tsproj"
    text.write_text("hello " * 100)
    with pytest.raises(ProjectError, match="not a TorchStudio project"):
        Project.open(text)
    other = tmp_path / "other.tsproj"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(ProjectError, match="not a TorchStudio project"):
        Project.open(other)
    newer = tmp_path / "newer.tsproj"
    Project.create(newer).close()
    db = sqlite3.connect(newer)
    db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(ProjectError, match="newer TorchStudio"):
        Project.open(newer)
    with pytest.raises(ProjectError, match="no project file"):
        Project.open(tmp_path / "missing.tsproj")


WRITER = """
import sys
from torchstudio.app.store.project import Project
project = Project.open(sys.argv[1])
print("ready", flush=True)
epoch = 0
while True:
    with project.transaction():
        project.add_epoch("m", 1, epoch, {"loss": float(epoch)})
        project.set_document("dataset", {"epoch": epoch, "pad": "x" * 5000})
    epoch += 1
    if epoch == 20:
        print("committed 20", flush=True)  # the test kills it from here on, mid-transaction
"""


def test_killed_writer_leaves_a_consistent_project(tmp_path):
    path = tmp_path / "p.tsproj"
    project = Project.create(path)
    project.add_model("m", {})
    project.add_run("m", {}, dataset="", code="")
    project.close()
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert writer.stdout.readline().strip() == "ready"
    assert writer.stdout.readline().strip() == "committed 20"
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    project = Project.open(path)
    epochs = project.epochs("m")
    assert len(epochs) > 0
    # The document and the epochs were written together: they agree.
    assert project.document("dataset")["epoch"] == epochs[-1]["epoch"] == len(epochs) - 1
    project.close()
