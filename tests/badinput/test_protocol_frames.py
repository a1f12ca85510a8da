"""Malformed protocol frames on real sockets: the side that reads them says what was wrong,
the app reports it and keeps running."""

from __future__ import annotations

import asyncio
import os
import socket
import struct
import sys

import pytest
from tests.helpers.studios import log_lines_with
from tests.helpers.waiting import wait_for_line

from torchstudio.app.runtime.manager import WorkerDied, WorkerManager
from torchstudio.data.handoff import fetch_dataset

pytestmark = pytest.mark.timeout(240)

HERE = os.path.dirname(os.path.abspath(__file__))


def frame_header(msg_type: bytes, length: int) -> bytes:
    return bytes([len(msg_type)]) + msg_type + struct.pack("<Q", length)


# (name, bytes, what the reader must say)
MALFORMED = [
    ("huge-length", frame_header(b"load", 1 << 62), "above the limit"),
    ("bad-utf8-type", frame_header(b"\xff\xfe", 0), "invalid UTF-8 in message type"),
    ("unknown-value-tag", frame_header(b"load", 1) + b"\xee", "unknown value tag"),
]


@pytest.mark.parametrize("name,data,reason", MALFORMED, ids=[m[0] for m in MALFORMED])
async def test_a_worker_sending_malformed_frames_is_reported(name, data, reason):
    env = {"PYTHONPATH": os.pathsep.join([HERE, *sys.path])}
    async with WorkerManager() as manager:
        lines: list[str] = []
        manager.subscribe(lambda e: lines.append(str(e.data)) if e.kind == "stderr" else None)
        worker = await manager.start_worker("garbleworker", module="garbleworker", env=env)
        with pytest.raises(WorkerDied) as failure:
            await worker.request("garble", list(data), timeout=60)
        assert "sent an invalid message" in str(failure.value) and reason in str(failure.value)
        assert reason in await wait_for_line(lines, "invalid message")
        # The stream cannot be trusted any more, so that worker is stopped; the app goes on.
        await asyncio.wait_for(worker.ended.wait(), 30)
        again = await manager.start_worker("garbleworker", module="garbleworker", env=env)
        assert await again.request("echo", "still answering") == "still answering"


async def test_malformed_frames_sent_to_a_worker_are_named_in_the_log():
    env = {"PYTHONPATH": os.pathsep.join([HERE, *sys.path])}
    async with WorkerManager() as manager:
        lines: list[str] = []
        manager.subscribe(lambda e: lines.append(str(e.data)) if e.kind == "stderr" else None)
        worker = await manager.start_worker("garbleworker", module="garbleworker", env=env)
        assert worker.conn is not None
        loop = asyncio.get_running_loop()
        await loop.sock_sendall(worker.conn.sock, MALFORMED[0][1])
        line = await wait_for_line(lines, "invalid message from the app")
        assert "above the limit" in line
        await asyncio.wait_for(worker.ended.wait(), 30)
        assert worker.exit is not None and worker.exit["code"] == 2
        again = await manager.start_worker("garbleworker", module="garbleworker", env=env)
        assert await again.request("echo", 1) == 1


@pytest.mark.asyncio(loop_scope="session")
@pytest.mark.parametrize("name,data,reason", MALFORMED, ids=[m[0] for m in MALFORMED])
async def test_the_data_server_drops_a_client_sending_malformed_frames(
    studio, tmp_path, name, data, reason
):
    link = studio.dataset.link
    assert link is not None
    seen = studio.log.version
    with socket.create_connection((link["address"], int(link["port"])), timeout=10) as sock:
        sock.sendall(data)
        sock.settimeout(30)
        assert sock.recv(1) == b""  # the server closed the connection
    lines = await log_lines_with(studio, seen, "dropped a client")
    assert any("dropped a client" in line and reason in line for line in lines), lines
    # The same data server still hands the dataset to a real client.
    entry = await asyncio.to_thread(fetch_dataset, link, str(tmp_path))
    assert len(entry.split("train")) == studio.dataset.report["train_count"]
