"""A model whose server is the loopback SSH server trains there, from the app's services.

The dataset loads here; ModelService starts the model's `modeltrain` through the SSH
server (upload, guard, reverse tunnel) and passes it the data link through the tunnel.
Stop and resume go through TrainingService as for a local training; the resumed run is a
data-parallel job on two "servers" (two entries for the same loopback sshd).
"""

from __future__ import annotations

import asyncio

import pytest
from tests.helpers.studios import demo_studio
from tests.helpers.waiting import eventually

from torchstudio.app.web.server import free_port
from torchstudio.remote.process import SSHProcess

pytestmark = pytest.mark.timeout(240)

SERVER = "test server"
OTHER = "the same sshd again"  # a second "machine" for a job on two servers


@pytest.fixture
async def studio(sshd, known_hosts, tmp_path):
    def add_server(studio):
        studio.servers.known_hosts = known_hosts
        studio.servers.add(sshd.entry())  # as the user adds it: saved in the TorchStudio folder

    async with demo_studio(tmp_path, before_start=add_server) as studio:
        yield studio


def environment(pid: int) -> str:
    with open(f"/proc/{pid}/environ", "rb") as file:
        return file.read().replace(b"\0", b" ").decode()


async def test_a_model_trains_on_its_server_stops_and_resumes_on_two(studio, sshd):
    project, training, models = studio.project, studio.training, studio.models
    name = project.model_names()[0]
    for parameter, value in (("channels", "8"), ("hidden", "32")):
        assert studio.models.set_value(name, parameter, value) == ""
    studio.models.set_placement(name, SERVER, None, sorted(studio.servers.book.entries))
    # No scheduler: the rate stays the same when the resumed run asks for fewer epochs.
    settings = {**project.model(name)["settings"], "epochs": 50, "scheduler": ""}
    project.update_model(name, settings=settings)

    training.start(name)
    await eventually(
        lambda: training.run(name).epoch >= 1 or not training.running(name), timeout=120
    )
    trainer = models.pool.running(f"modeltrain {name}")
    assert trainer is not None and models.placed[name] == SERVER
    # Started over SSH, it runs the package uploaded to the server's folder.
    assert isinstance(trainer.process, SSHProcess)
    assert str(sshd.folder / "remote-home") in environment(trainer.process.pid)
    await training.stop(name)
    run = await asyncio.wait_for(training.wait(name), 120)
    assert run.status == "stopped", run.error
    stopped_at = run.epoch
    assert 1 <= stopped_at < 50 and project.weights(name, "checkpoint")[0] == stopped_at

    # Resumed as a job on two machines: the model's server runs rank 0 (its trainer, with
    # the data link rewritten for it), a second server entry for the same sshd runs rank 1.
    studio.servers.add(sshd.entry(name=OTHER))
    hosts = [
        {"server": None, "devices": ["cpu"], "address": "127.0.0.1", "interface": "lo"},
        {"server": OTHER, "devices": ["cpu"], "interface": "lo"},
    ]
    studio.models.set_placement(name, SERVER, hosts, sorted(studio.servers.book.entries))
    settings = project.model(name)["settings"]
    project.update_model(
        name, settings={**settings, "epochs": stopped_at + 1, "dist_port": free_port("127.0.0.1")}
    )
    training.start(name, resume=True)
    run = await asyncio.wait_for(training.wait(name), 180)
    assert run.status == "finished", run.error
    summary = project.model(name)["training"]
    assert [(r["rank"], r["host"]) for r in summary["ranks"]] == [(0, SERVER), (1, OTHER)]
    epochs = project.epochs(name)
    assert [e["epoch"] for e in epochs] == list(range(1, stopped_at + 2))
    assert epochs[-1]["train_loss"] < epochs[0]["train_loss"]  # it learns, across the stop
    best = project.weights(name, "best")
    assert best is not None and len(best[1]) > 1000
    assert models.pool.running(f"modeltrain {name}") is trainer  # the same remote trainer

    # Back to this machine: the remote trainer makes way for a local one of the same name.
    studio.models.set_placement(name, None, None, [])
    local = await models.trainer(name, None)
    assert local is not trainer and not trainer.alive and models.placed[name] is None
