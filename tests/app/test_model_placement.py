"""Where a model trains: the `server` and `devices` settings, checked, stored and trained.

The first tests check the settings on a project without workers; the last ones train the
demo model as two Gloo processes through the app's TrainingService and real workers,
then makes one of its ranks fail.
"""

import asyncio
import re

import pytest
from tests.helpers.training import SGD

from torchstudio.app.models import definition as model_definition
from torchstudio.app.models.definition import check_placement, set_placement
from torchstudio.app.models.document import ModelDocument
from torchstudio.app.pages.model_placement import Placement

pytestmark = pytest.mark.timeout(240)
SERVERS = ["gpu1", "gpu2"]


@pytest.mark.parametrize(
    "server, devices",
    [
        (None, None),
        (None, ["cpu", "cpu"]),
        ("gpu1", "all"),
        ("gpu1", ["cuda:0", "cuda:1"]),
        (None, [{"server": None, "devices": "all", "address": "10.0.0.1"}, {"server": "gpu2", "devices": ["cuda:0"]}]),
    ],
)  # fmt: skip
def test_accepted_placements(server, devices):
    check_placement(server, devices, "cpu", SERVERS)


@pytest.mark.parametrize(
    "server, devices, message",
    [
        ("gpu9", None, r"server 'gpu9' is not one of the app's servers \('gpu1', 'gpu2'\)"),
        (None, ["cpu", "cuda:0"], r"devices: a distributed job runs on GPUs only or on CPUs only"),
        (None, ["cuda:0", "cuda:0"], r"each GPU may be used by one process only \(this machine"),
        (None, ["mps", "mps"], r"MPS trains in one process only"),
        (None, [3], r"devices must be a device, 'all' or a list of devices, not \[3\]"),
        (None, [{"server": None, "devices": "all"}, {"server": "gpu2", "devices": "all"}],
         r"needs the first host's address"),
        (None, [{"server": None, "devices": "all", "address": "a"}, {"server": None, "devices": "all"}],
         r"each machine may appear once"),
        ("gpu1", [{"server": "gpu1", "devices": "all", "address": "a"}, {"server": None, "devices": "all"}],
         r"host 1 needs a server name"),
        ("gpu1", [{"server": "gpu2", "devices": "all", "address": "a"}, {"server": "gpu1", "devices": "all"}],
         r"host 0 is the model's own trainer \(server 'gpu1'\)"),
        (None, [{"server": None, "devices": "all", "address": "a"}, {"server": "gpu7", "devices": "all"}],
         r"host 1: 'gpu7' is not one of the servers"),
        ("gpu1", [{"server": None, "devices": "all", "address": "a"}, {"server": "gpu1", "devices": "all"}],
         r"host 1 is server 'gpu1' again"),
        (None, [{"server": None, "devices": ["cpu"], "address": "a"}, {"server": "gpu1", "devices": "all"}],
         r"GPUs only or on CPUs only"),
        (None, [{"server": None, "devices": "all", "port": 1}], r"host 0: unknown keys port"),
    ],
)  # fmt: skip
def test_refused_placements_say_why(server, devices, message):
    with pytest.raises(ValueError, match=message):
        check_placement(server, devices, "cpu", SERVERS)


def test_placement_is_stored_and_reaches_the_trainer_settings(project):
    document = ModelDocument.from_json(project.model(project.model_names()[0]))
    document = set_placement(document, "gpu1", ["cpu", "cpu"], SERVERS)
    stored = ModelDocument.from_json(document.to_json()).to_json()["settings"]
    assert stored["server"] == "gpu1" and stored["devices"] == ["cpu", "cpu"]
    settings = document.effective().trainer_settings(["input", "target"])
    assert settings["devices"] == ["cpu", "cpu"] and "server" not in settings
    document = set_placement(document, None, "cuda:1", SERVERS)  # one device: `device`
    stored = document.to_json()["settings"]
    assert stored["device"] == "cuda:1" and "devices" not in stored
    with pytest.raises(ValueError, match="not one of the app's servers"):
        set_placement(document, "gone", None, SERVERS)
    assert model_definition.parse_setting("dist_port", "29501") == 29501
    with pytest.raises(ValueError, match="dist_port must be a TCP port"):
        model_definition.parse_setting("dist_port", "70000")


def test_world_size_and_the_effective_batch_line():
    assert model_definition.world_size(["cpu", "cpu"], "cpu", None, {}) == 2
    assert model_definition.world_size("all", "cpu", "gpu1", {"gpu1": 4}) == 4
    assert model_definition.world_size("all", "cpu", "gpu1", {}) is None  # GPUs not checked yet
    hosts = [
        {"server": None, "devices": "all", "address": "a"},
        {"server": "gpu2", "devices": ["cuda:0", "cuda:1"]},
    ]
    assert model_definition.world_size(hosts, "cpu", "gpu1", {"gpu1": 3}) == 5
    line = model_definition.batch_line(32, 2)
    assert line.startswith("effective batch 64 = 32 per device x 2 processes")
    assert "Learning rate not scaled" in line
    assert model_definition.batch_line(32, 1) == "batch 32 on one device"
    with pytest.raises(ValueError, match="CPU processes must be at least 1"):
        model_definition.cpu_processes(0)


def test_the_controls_read_and_write_every_form():
    two = Placement.of({"device": "cpu", "devices": ["cpu", "cpu"]})
    assert (two.mode, two.chosen, two.cpu_processes) == ("several", ["cpu"], 2)
    two.cpu_processes = 3
    assert two.devices() == ["cpu", "cpu", "cpu"]
    assert Placement.of({"devices": "all"}).devices() == "all"
    assert Placement.of({"device": "cuda:1"}).devices() == "cuda:1"
    hosts = [
        {"server": None, "devices": ["cuda:0", "cuda:1"], "address": "10.0.0.1"},
        {"server": "gpu2", "devices": ["cuda:0", "cuda:1"]},
    ]
    read = Placement.of({"server": "gpu1", "devices": hosts})
    assert (read.mode, read.others, read.address) == ("servers", ["gpu2"], "10.0.0.1")
    assert read.devices() == hosts
    check_placement(read.server, read.devices(), "cpu", SERVERS)


# ---------------------------------------------------------------- training, real workers


def without_dropout(studio, name, **settings):
    """A small demo model with no random layer (both runs must draw the same numbers)."""
    for parameter, value in (("dropout", "0.0"), ("channels", "8"), ("hidden", "32")):
        assert studio.models.set_value(name, parameter, value) == ""
    current = studio.project.model(name)["settings"]
    studio.project.update_model(name, settings={**current, **settings})


@pytest.mark.slow
async def test_two_cpu_processes_train_like_one_with_the_global_batch(studio):
    project, training = studio.project, studio.training
    name = project.model_names()[0]
    # SGD, not the suggested Adam (see tests/test_distributed.py).
    without_dropout(studio, name, epochs=2, batch_size=64, optimizer=SGD)

    async def train() -> list[dict]:
        # The same built model (same initial weights) each time: only the placement changes.
        training.start(name)
        run = await asyncio.wait_for(training.wait(name), 180)
        assert run.status == "finished", run.error
        return project.epochs(name)

    one = await train()
    studio.models.set_placement(name, None, ["cpu", "cpu"], [])
    project.update_model(name, settings={**project.model(name)["settings"], "batch_size": 32})
    ddp = await train()
    summary = project.model(name)["training"]
    assert summary["world_size"] == 2 and summary["effective_batch_size"] == 64
    assert [r["rank"] for r in summary["ranks"]] == [0, 1]
    assert [e["epoch"] for e in ddp] == [e["epoch"] for e in one] == [1, 2]
    for a, b in zip(one, ddp, strict=True):
        for key in ("train_loss", "valid_loss", "train_metric", "valid_metric"):
            # Sums in another order (two processes, other thread counts): not bit for bit.
            assert a[key] == pytest.approx(b[key], rel=1e-3, abs=1e-6), key
    assert ddp[-1]["train_loss"] < ddp[0]["train_loss"]  # it learns (slowly, with SGD)
    best = project.weights(name, "best")
    assert best is not None and best[0] in (1, 2) and len(best[1]) > 1000

    # A rank that fails ends the job; the run's error names it, and the app goes on.
    settings = project.model(name)["settings"]
    project.update_model(name, settings={**settings, "epochs": 1, "loss": ["loss = None\n"]})
    training.start(name)
    run = await asyncio.wait_for(training.wait(name), 180)
    assert run.status == "error" and project.model(name)["status"] == "error"
    assert re.search(r"rank \d \(cpu on this machine\).*`loss`", run.error, re.S), run.error
    assert not training.running(name) and project.epochs(name) == []
