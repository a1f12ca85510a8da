"""SIGKILL the app at random moments of opening, training and saving, 4 times (20 under
`make soak`): the project
is never corrupt, keeps the last epoch it saved, and no worker outlives the app."""

import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from faultsetup import check_project_file, use_tiny_model
from tests.helpers.processes import descendants_of, wait_until_gone
from tests.helpers.tiers import soak

from torchstudio.app.catalog import Catalog
from torchstudio.app.demo import write_demo
from torchstudio.app.store.project import Project

pytestmark = [pytest.mark.timeout(600), pytest.mark.soak]

KILLS = soak(4, 20)
CHILD = Path(__file__).parent / "app_child.py"


class App:
    """The child app, its output lines as they come, and the workers it said it started."""

    def __init__(self, project: Path, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(CHILD), str(project)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.workers: list[int] = []
        self.epochs: list[int] = []
        self.run: int | None = None  # the run it trained
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.strip())

    def _take(self, line: str) -> None:
        kind, _, value = line.partition(" ")
        if kind == "worker":
            self.workers.append(int(value))
        elif kind == "epoch":
            epoch, run = value.split()
            self.epochs.append(int(epoch))
            self.run = int(run)

    def follow(self, seconds: float, until_epoch: bool = False) -> None:
        """Read its output for `seconds` (or until its first epoch is saved)."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                self._take(self.lines.get(timeout=min(left, 0.05)))
            except queue.Empty:
                assert self.process.poll() is None, "the app ended by itself"
            if until_epoch and self.epochs:
                return

    def kill(self) -> list[int]:
        """SIGKILL it; returns the pids of the workers it had (said it) started."""
        pids = set(self.workers) | set(descendants_of(self.process.pid))
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)
        while not self.lines.empty():
            self._take(self.lines.get())
        return sorted(pids | set(self.workers))


def latest_run(path: Path, name: str) -> int | None:
    project = Project.open(path)
    try:
        record = project.run(name)
        return None if record is None else int(record["number"])
    finally:
        project.close()


def test_killing_the_app_again_and_again_never_corrupts_the_project_nor_leaves_workers(tmp_path):
    path = tmp_path / "killed.tsproj"
    project = write_demo(path, Catalog())
    name = project.model_names()[0]
    use_tiny_model(project, name, epochs=1000, ballast=250_000)  # 1 MB per weight file
    project.close()
    env = {**os.environ, "TORCHSTUDIO_HOME": str(tmp_path / "home")}
    env["TORCHSTUDIO_CACHE"] = str(tmp_path / "cache")

    rng = random.Random(20)
    run, saved = None, 0  # the latest run and its checkpoint's epoch before each attempt
    killed_in_training = progress = 0  # progress: epochs checkpointed, over every run
    for attempt in range(KILLS):
        app = App(path, env)
        if attempt % 2:  # opening the project, starting workers, loading the dataset
            app.follow(rng.uniform(0.3, 4.0))
        else:  # training: epochs, best weights and checkpoints being saved
            app.follow(180, until_epoch=True)
            assert app.epochs, "no epoch within 3 minutes"
            app.follow(rng.uniform(0.0, 1.5))
        workers = app.kill()

        # A worker still importing torch when the app died ends when it finds no app to connect
        # to: on a loaded machine that import alone can take well over 15 s.
        assert wait_until_gone(workers, timeout=60) == [], f"orphan workers after kill {attempt}"
        epochs, checkpoint = check_project_file(path)[name]
        latest = latest_run(path, name)
        if latest == run:  # the same run went on: nothing it had saved is lost
            assert checkpoint >= saved, (attempt, checkpoint, saved)
        if app.epochs:  # the last epoch it saved is there, and those before it
            killed_in_training += 1
            assert app.run == latest, (attempt, app.run, latest)
            # A resumed run goes on after its checkpoint; a new run starts at epoch 1.
            first = saved + 1 if app.run == run else 1
            assert app.epochs[0] == first, (attempt, app.epochs, saved, app.run, run)
            assert epochs[-1] >= app.epochs[-1], (attempt, epochs, app.epochs)
        progress += checkpoint - (saved if latest == run else 0)
        run, saved = latest, checkpoint

    assert killed_in_training >= KILLS // 2 and progress >= KILLS // 2, (
        killed_in_training,
        progress,
    )
