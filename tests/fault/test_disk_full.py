"""A full disk while saving weights or the dataset cache: a clear error, the old state kept."""

import os
import sqlite3

import numpy as np
import pytest
import torch
from faultsetup import check_project_file, fill, use_tiny_model
from safetensors.torch import save as save_safetensors

from torchstudio.app.store.project import Project, ProjectError
from torchstudio.data.cache import CacheEntry, CacheError, materialise
from torchstudio.train import state as checkpoints

pytestmark = pytest.mark.timeout(240)


def weights(values: int, fill_value: float) -> bytes:
    return save_safetensors({"w": torch.full((values,), fill_value)})


def test_saving_weights_on_a_full_disk_names_the_file_and_keeps_the_old_weights(small_disk):
    path = small_disk / "full.tsproj"
    project = Project.create(path)
    name = project.add_model("model", {"code": "model = None\n", "settings": {}})
    old_best = weights(1000, 1.0)
    old_checkpoint = checkpoints.pack({"epoch": 1, "model": {"w": torch.ones(3)}})
    run = project.add_run(name, {}, dataset="", code="")
    project.add_epoch(name, run, 1, {"train_loss": 0.5})
    project.set_weights(name, run, "best", 1, old_best)
    project.set_weights(name, run, "checkpoint", 1, old_checkpoint)
    filler = fill(small_disk)

    big = weights(300_000, 2.0)  # 1.2 MB: more than the disk has left
    for kind in ("best", "checkpoint"):
        with pytest.raises(ProjectError) as error:
            project.set_weights(name, run, kind, 2, big)
        assert "disk is full" in str(error.value)
        assert str(path) in str(error.value)
    # The open project still reads, and so does a fresh one on the still-full disk.
    assert project.weights(name, "best") == (1, old_best)
    reopened = Project.open(path)
    assert reopened.weights(name, "best") == (1, old_best)
    assert reopened.weights(name, "checkpoint") == (1, old_checkpoint)
    assert [e["epoch"] for e in reopened.epochs(name)] == [1]
    reopened.close()

    filler.unlink()  # with room again, the same session saves
    project.set_weights(name, run, "best", 2, big)
    assert project.weights(name, "best") == (2, big)
    project.close()
    check_project_file(path)


async def test_training_into_a_project_on_a_full_disk_stops_with_a_clear_error(studio, small_disk):
    path = small_disk / "training.tsproj"
    await studio.save_as(path)  # the dataset stays loaded, the project is now on the small disk
    project, training = studio.project, studio.training
    name = project.model_names()[0]
    use_tiny_model(project, name, epochs=1, ballast=300_000)  # 1.2 MB per weight file
    training.start(name)
    run = await training.wait(name)
    assert run.status == "finished", run.error
    best = project.weights(name, "best")
    assert best is not None and best[0] == 1
    # SQLite reuses its write-ahead log's room: emptied, the log must grow for what comes.
    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0  # not busy
    raw.close()
    filler = fill(small_disk, leave=1024 * 1024)  # room for epochs, not for weights

    training.start(name, resume=True, epochs=4)
    run = await training.wait(name)
    assert run.status == "error"
    assert "disk is full" in run.error and str(path) in run.error, run.error
    assert 2 <= run.epoch < 4  # the epoch was recorded, its weights were not; then it stopped
    assert project.weights(name, "best") == best
    reopened = Project.open(path)
    assert reopened.weights(name, "best") == best
    assert reopened.weights(name, "checkpoint")[0] == 1
    reopened.close()

    filler.unlink()  # the app kept running: with room again, training goes on
    training.start(name, resume=True, epochs=2)
    run = await training.wait(name)
    assert run.status == "finished", run.error
    assert project.weights(name, "checkpoint")[0] == 2


def digits_like(count: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    images = rng.random((count, 1, 16, 16), dtype=np.float32)
    return [(images[i], np.array(i % 10)) for i in range(count)]


def test_a_cache_write_on_a_full_disk_names_the_file_and_keeps_the_old_entry(small_disk):
    cache_dir = str(small_disk / "cache")
    old = materialise({"train": digits_like(200, 1)}, "old", cache_dir)
    fill(small_disk, leave=384 * 1024)  # room for part of an entry

    big = {"train": digits_like(2000, 2)}  # 2 MB of images: more than the room left
    with pytest.raises(CacheError) as error:
        materialise(big, "new", cache_dir)
    message = str(error.value)
    assert "disk is full" in message and os.path.join(cache_dir, ".new-") in message, message
    assert sorted(os.listdir(cache_dir)) == ["old"]  # no half-written entry is left
    # Rebuilding the same key on the full disk fails too, and keeps the entry it would replace.
    with pytest.raises(CacheError, match="disk is full"):
        materialise(big, "old", cache_dir)
    kept = CacheEntry.open(old.folder, verify=True)
    assert len(kept.split("train")) == 200
    assert np.array_equal(kept.split("train").arrays(7)[0], digits_like(200, 1)[7][0])
