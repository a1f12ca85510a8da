"""Shared pieces of the fault-tolerance tests: a tiny model, project checks, process checks."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from safetensors.torch import load as load_safetensors

from torchstudio.app.store.project import Project
from torchstudio.app.store.weights import check_safetensors
from torchstudio.train import state as checkpoints

# A linear model on Digits (8x8 images, ten classes): an epoch takes a fraction of a second.
# `ballast` makes every saved weight file about `ballast` * 4 bytes, so saving takes a while.
TINY_MODEL = """import torch
from torch import nn


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(64, 10)
        self.register_buffer("ballast", torch.zeros({ballast}))

    def forward(self, x):
        return self.fc(x.flatten(1))


model = Tiny()
"""


# Trains nothing: once training starts (batches of more than one sample; the build uses
# one), the forward never returns: user code stuck in an endless loop.
def hanging_model(marker: Path) -> str:
    """A model whose forward never returns on a batch (one sample, as Build passes, is fine);
    it creates `marker` when it starts hanging, so a test knows the hang is what it sees."""
    return f"""import torch
from torch import nn


class Hanging(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        if x.shape[0] > 1:
            open({str(marker)!r}, "w").close()
        while x.shape[0] > 1:
            pass
        return self.fc(x.flatten(1))


model = Hanging()
"""


def use_tiny_model(project: Project, name: str, epochs: int, ballast: int = 16) -> None:
    """Give model `name` the tiny model's code and quick training settings."""
    # No scheduler: a one-cycle schedule cannot be resumed with another epoch count.
    settings = {**project.model(name)["settings"], "epochs": epochs, "batch_size": 64}
    settings["scheduler"] = ""
    project.update_model(
        name, code=TINY_MODEL.format(ballast=ballast), code_edited=True, settings=settings
    )


def check_project_file(path: Path) -> dict[str, tuple[list[int], int]]:
    """Check a project file as a fresh app would, fully; returns per model (epochs, checkpoint).

    Asserts: SQLite's integrity check passes, the project opens, every model's document,
    epochs and weights decode, and the epochs stored are 1..n with n the checkpoint's
    epoch or one more (the epoch whose checkpoint was being saved).
    """
    raw = sqlite3.connect(path)
    try:
        assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        raw.close()
    project = Project.open(path)
    found = {}
    try:
        for name in project.model_names():
            assert isinstance(project.model(name)["code"], str)
            epochs = [e["epoch"] for e in project.epochs(name)]
            assert epochs == list(range(1, len(epochs) + 1)), epochs
            best = project.weights(name, "best")
            if best is not None:
                check_safetensors(best[1])
                assert load_safetensors(best[1]), "best weights without tensors"
            checkpoint = project.weights(name, "checkpoint")
            saved = 0
            if checkpoint is not None:
                saved = checkpoint[0]
                assert checkpoints.unpack(checkpoint[1])["epoch"] == saved
            assert len(epochs) - saved in (0, 1), (epochs, saved)
            found[name] = (epochs, saved)
        project.logs(100)
    finally:
        project.close()
    return found


def fill(folder: Path, leave: int = 0) -> Path:
    """Fill the disk holding `folder` but `leave` bytes; returns the filler file to remove."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (1 << 16, 1 << 12, 1 << 9, 1):
            block = b"\0" * size
            while True:
                try:
                    os.write(fd, block)
                except OSError:
                    break
        os.ftruncate(fd, max(0, os.fstat(fd).st_size - leave))
    finally:
        os.close(fd)
    return filler
