"""The app's memory stays flat over a training: worker messages are handled and let go.

An 11 M-parameter model (one wide linear layer: cheap to compute, heavy to send) sends
its best weights (44 MB) and a checkpoint with Adam's state (133 MB) every epoch; a process
keeping those messages grows by that much per epoch.
"""

from pathlib import Path

import pytest

from torchstudio.app.catalog import Catalog
from torchstudio.app.dataset.definition import edit_code, new_definition
from torchstudio.app.demo import model_document
from torchstudio.app.store.project import Project
from torchstudio.app.studio import Studio

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]

EPOCHS = 8
MB = 1024 * 1024
DATA = """
import torch
g = torch.Generator().manual_seed(0)
train = torch.utils.data.TensorDataset(torch.rand(32, 3072, generator=g), torch.arange(32) % 3)
valid = torch.utils.data.TensorDataset(torch.rand(8, 3072, generator=g), torch.arange(8) % 3)
"""
WIDE = "import torch\nmodel = torch.nn.Sequential(torch.nn.Linear(3072, 3600), torch.nn.Linear(3600, 3))\n"
SETTINGS = {
    "epochs": EPOCHS,
    "batch_size": 32,
    "loss": ["import torch\nloss = torch.nn.CrossEntropyLoss()\n"],
    "metric": [
        "from torchstudio.metrics import Accuracy\nmetric = Accuracy(task='multiclass', num_classes=3)\n"
    ],
    "optimizer": "import torch\noptimizer = torch.optim.Adam(model.parameters(), lr=1e-3)\n",
    "scheduler": "",
}


def resident() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


async def test_memory_of_the_app_is_flat_over_a_training(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCHSTUDIO_HOME", str(tmp_path / "home"))
    definition = edit_code(new_definition(Catalog()), DATA)
    project = Project.create(tmp_path / "wide.tsproj")
    project.set_document("dataset", definition.to_json())
    project.add_model("wide", model_document(WIDE, None, SETTINGS))
    project.close()

    studio = Studio(env={"TORCHSTUDIO_CACHE": str(tmp_path / "cache")})
    await studio.start()
    try:
        await studio.open(tmp_path / "wide.tsproj")
        assert await studio.dataset.load(), studio.dataset.error
        training, memory = studio.training, []

        def after_epoch(_: object) -> None:
            if training.run("wide").epoch > len(memory):
                memory.append(resident())

        studio.changes.subscribe(["training"], after_epoch)
        training.start("wide")
        run = await training.wait("wide")
        assert run.status == "finished", run.message
        sent = sum(len(studio.project.weights("wide", kind)[1]) for kind in ("best", "checkpoint"))
    finally:
        await studio.close()
    assert len(memory) == EPOCHS
    assert sent > 150 * MB  # what a process keeping the messages would grow by per epoch
    growth = (memory[-1] - memory[2]) / (EPOCHS - 3)
    shown = " ".join(f"{m / MB:.0f}" for m in memory)
    assert growth < 5 * MB, f"the app grew {growth / MB:.1f} MB per epoch (MB: {shown})"
