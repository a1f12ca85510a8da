"""The dataset loads and is analyzed on a server; a model trains here from its data link.

The link of the loader on the server comes here through the SSH connection (the other
way round from a model on a server reading a dataset here, which test_model_server covers).
"""

from __future__ import annotations

import pytest
from tests.helpers.studios import demo_studio

from torchstudio.remote.process import SSHProcess

pytestmark = [pytest.mark.sshd, pytest.mark.timeout(240)]

SERVER = "test server"


@pytest.fixture
async def studio(sshd, known_hosts, tmp_path):
    def add_server(studio):
        studio.servers.known_hosts = known_hosts
        studio.servers.add(sshd.entry())

    async with demo_studio(tmp_path, load=False, usage_ratio=0.2, before_start=add_server) as s:
        yield s


async def test_load_and_analyze_on_a_server_then_train_here(studio):
    dataset, models = studio.dataset, studio.models
    await dataset.set_server(SERVER)
    assert dataset.definition.server == SERVER and studio.project.document("dataset")["server"]
    assert await dataset.load(), dataset.error
    loader = studio.pool.running("datasetload")
    assert isinstance(loader.process, SSHProcess) and studio.pool.placed["datasetload"] == SERVER
    png = await dataset.sample_image("train", 0, 0, (64, 64))
    assert png.startswith(b"\x89PNG")
    assert await dataset.analyze(), dataset.analysis_message
    assert isinstance(studio.pool.running("datasetanalyze").process, SSHProcess)

    name = studio.project.model_names()[0]
    settings = {**studio.project.model(name)["settings"], "epochs": 1}
    studio.project.update_model(name, settings=settings)
    result = await models.train(name)
    assert result["epochs_done"] == 1 and models.placed[name] is None

    # Back to this machine: the server's loader goes, the data has to be loaded again.
    await dataset.set_server(None)
    assert dataset.status == "not loaded" and not loader.alive
    assert "load it again" in dataset.message
