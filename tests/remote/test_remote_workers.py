"""Remote workers through the app's manager: messages, data links both ways, ends."""

from __future__ import annotations

import asyncio
import os
import subprocess

import pytest
from tests.helpers import waiting
from tests.helpers.recording import RecordingManager

from torchstudio.data.handoff import fetch_dataset

pytestmark = pytest.mark.timeout(120)

SERVER = "test server"
DIGITS = "from torchstudio.datasets import Digits\ntrain = Digits(train=True)\nvalid = Digits(train=False)\n"
CHATTY = DIGITS + "print('hello from the server')\n"
MULTICLASS = "from torchstudio.analyzers import Multiclass\nanalyzer = Multiclass()\n"
SLOW = (
    "from torchstudio.analyzers import ValuesDistribution\nimport time\n"
    "class Slow(ValuesDistribution):\n"
    "    def analyze_sample(self, sample, training_sample):\n"
    "        time.sleep(0.01)\n"
    "        super().analyze_sample(sample, training_sample)\n"
    "analyzer = Slow()\n"
)


def running(pattern: str) -> list[int]:
    found = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True)
    return [int(pid) for pid in found.stdout.split()]


async def test_remote_datasetload_answers_and_streams_stderr(servers, tmp_path):
    env = {"TORCHSTUDIO_CACHE": str(tmp_path / "server-cache")}
    async with RecordingManager() as manager:
        loader = await servers.start_worker(manager, SERVER, "datasetload", env=env)
        report = await loader.request("load", {"code": CHATTY})
        assert (report["train_count"], report["valid_count"]) == (1438, 359)
        line = await waiting.next_event(manager, loader.name, "stderr")
        assert line.data == "hello from the server"
        image, label = await loader.request("sample", {"split": "valid", "index": 5})
        assert image.shape == (1, 8, 8)
        # The worker runs the uploaded package version, not the checkout.
        session = await servers.connect(SERVER)
        with open(f"/proc/{loader.process.pid}/environ", "rb") as file:
            environ = file.read().split(b"\0")
        assert f"PYTHONPATH={session.upload.folder}".encode() in environ

        # The other way round: a worker here fetches from the server's data server.
        link = await servers.link_from_server(SERVER, report["link"])
        assert link["port"] != report["link"]["port"]
        entry = await asyncio.to_thread(fetch_dataset, link, str(tmp_path / "here"))
        assert len(entry.split("train")) == 1438
        exit_info = await loader.stop()
        assert exit_info == {"code": 0, "signal": None, "text": "exited normally"}


async def test_dataset_handoff_through_the_tunnel(servers, tmp_path):
    """Local datasetload, remote datasetanalyze: the link goes through the SSH connection."""
    async with RecordingManager() as manager:
        loader = await manager.start_worker(
            "datasetload", env={"TORCHSTUDIO_CACHE": str(tmp_path / "local")}
        )
        analyzer = await servers.start_worker(
            manager,
            SERVER,
            "datasetanalyze",
            env={"TORCHSTUDIO_CACHE": str(tmp_path / "server")},
        )
        local_link = (await loader.request("load", {"code": DIGITS}))["link"]
        link = await servers.link_to_server(SERVER, local_link)
        assert link["token"] == local_link["token"] and link["port"] != local_link["port"]
        result = await analyzer.request(
            "analyze",
            {"code": MULTICLASS, "link": link, "input_tensors_id": [0], "output_tensors_id": [1]},
        )
        assert result["samples"] == 1797 and len(result["weights"]) == 10


async def test_a_dropped_connection_ends_the_remote_worker(servers, tmp_path):
    async with RecordingManager() as manager:
        loader = await manager.start_worker(
            "datasetload", env={"TORCHSTUDIO_CACHE": str(tmp_path / "local")}
        )
        analyzer = await servers.start_worker(manager, SERVER, "datasetanalyze")
        link = await servers.link_to_server(
            SERVER, (await loader.request("load", {"code": DIGITS}))["link"]
        )
        pid = analyzer.process.pid
        session = await servers.connect(SERVER)
        port = await session.reverse_port(manager.host, manager.port)
        pattern = f"torchstudio.datasetanalyze --address 127.0.0.1 --port {port}"
        assert pid in running(pattern)
        job = asyncio.ensure_future(analyzer.request("analyze", {"code": SLOW, "link": link}))
        await waiting.next_event(manager, analyzer.name, "progress")  # the job is under way

        session.abort()  # what a network failure does to the app's side
        exited = await waiting.next_event(manager, analyzer.name, "exited")
        assert exited.data["signal"] == "SIGHUP" and not analyzer.alive
        assert any("connection to" in line and "was lost" in line for line in analyzer.log)
        with pytest.raises(Exception, match="SIGHUP"):
            await job
        await waiting.eventually(
            lambda: not running(pattern) and not os.path.exists(f"/proc/{pid}"),
            timeout=15,
            what="the remote worker gone with its connection",
        )
        # The next start logs in again by itself.
        again = await servers.start_worker(manager, SERVER, "datasetanalyze")
        assert again.alive and (await servers.connect(SERVER)) is not session


async def test_a_killed_remote_worker_is_reported(servers):
    async with RecordingManager() as manager:
        worker = await servers.start_worker(manager, SERVER, "pythoncheck")
        worker.process.kill()
        exited = await waiting.next_event(manager, worker.name, "exited")
        assert exited.data["signal"] == "SIGKILL", exited.data


async def test_a_worker_that_cannot_start_says_why(servers, sshd):
    from torchstudio.remote.errors import RemoteError

    servers.add(sshd.entry(name="broken", python="/nowhere/python3"))
    async with RecordingManager() as manager:
        with pytest.raises(RemoteError, match="did not start on .*/nowhere/python3"):
            await servers.start_worker(manager, "broken", "datasetload")
