"""Attacks on the handshakes of the worker port and the dataset server, and on samples.

- A hello whose secret or token is not ASCII text (or not text at all) is refused like
  any wrong one: `hmac.compare_digest` on str raised TypeError and killed the handler.
- The dataset server gives a connection HANDSHAKE_SECONDS in all to show its token (a
  client sending one byte every few seconds was kept forever, a thread each), and takes
  at most MAX_HANDSHAKES such connections at once.
- A negative sample index is refused instead of wrapping to the last sample.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import numpy as np
import pytest
from tests.helpers.waiting import eventually, wait_until

from torchstudio import tcpcodec
from torchstudio.app.runtime.manager import WorkerManager
from torchstudio.data import handoff
from torchstudio.data.cache import CacheEntry, CacheError
from torchstudio.data.split import DatasetSettings, make_splits
from torchstudio.datasetload import DatasetError, LoadedDataset, get_sample
from torchstudio.worker import HELLO, same_secret

pytestmark = pytest.mark.timeout(60)

ODD_SECRETS = ["tökén", "\u2603" * 64, 12345, None, ["a"], {"k": 1}]


def frame(msg_type: str, value: object) -> bytes:
    """The bytes of one message, as a Connection sends them."""
    ours, theirs = socket.socketpair()
    with ours, theirs:
        tcpcodec.Connection(ours).send(msg_type, value)
        theirs.settimeout(5)
        return theirs.recv(1 << 16)


def test_same_secret_takes_any_value():
    assert same_secret("abc", "abc") and same_secret("tökén", "tökén")
    for odd in [*ODD_SECRETS, "\udcff"]:  # a lone surrogate cannot travel, but still
        assert not same_secret(odd, "abc")


async def test_the_worker_port_refuses_odd_secrets(worker_env):
    async with WorkerManager() as manager:
        # A worker waiting for its hello: each odd secret is compared with its own.
        waiting = asyncio.ensure_future(
            manager.start_worker("silent", name="silent", module="silentworker", env=worker_env)
        )
        await eventually(lambda: "silent" in manager.workers, timeout=10, what="the silent worker")
        for odd in ODD_SECRETS:
            before = manager.rejected_connections
            reader, writer = await asyncio.open_connection("127.0.0.1", manager.port)
            data = frame(HELLO, {"secret": odd})
            writer.write(data)
            await writer.drain()
            assert await asyncio.wait_for(reader.read(), 10) == b""  # closed by the app
            writer.close()
            await eventually(
                lambda before=before: manager.rejected_connections > before,
                timeout=10,
                what=f"{odd!r} rejected",
            )
            assert manager.rejected_connections == before + 1, odd
        waiting.cancel()
        await manager.workers["silent"].stop(timeout=2)
        # Still serving: a real worker connects after all that.
        worker = await manager.start_worker("crashworker", module="crashworker", env=worker_env)
        assert await worker.request("echo", 1) == 1


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setattr(handoff, "HANDSHAKE_SECONDS", 1.0)
    crashes: list[BaseException] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: crashes.append(args.exc_value))
    data = handoff.DataServer(lambda ctx: None)
    yield data
    data.close()
    assert not crashes, f"a data server thread crashed: {crashes!r}"


def hello(server: handoff.DataServer, token: object) -> tcpcodec.Connection:
    conn = tcpcodec.Connection.connect("127.0.0.1", server.port, timeout=10)
    conn.send(HELLO, {"token": token})
    return conn


def test_the_data_server_refuses_odd_tokens(server):
    for odd in ODD_SECRETS:
        conn = hello(server, odd)
        with pytest.raises((tcpcodec.ConnectionClosed, OSError)):
            conn.recv()
        conn.close()


def test_a_slow_hello_is_cut_at_the_deadline(server):
    """One byte every 0.2 s: each receive is quick, the whole hello is not."""
    data = frame(HELLO, {"token": server.token})
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    started = time.monotonic()
    cut = False
    try:
        for byte in data:
            sock.sendall(bytes([byte]))
            time.sleep(0.2)  # the attack's pace, not a wait for a state
            if time.monotonic() - started > 5:
                break
    except OSError:
        cut = True
    if not cut:
        sock.settimeout(5)
        try:
            cut = sock.recv(1) == b""
        except OSError:
            cut = True
    sock.close()
    assert cut and time.monotonic() - started < 5, "the slow hello was not cut off"


def test_silent_connections_are_capped(server):
    baseline = threading.active_count()
    silent = [
        socket.create_connection(("127.0.0.1", server.port), timeout=10)
        for _ in range(handoff.MAX_HANDSHAKES + 20)
    ]
    try:
        wait_until(
            lambda: server.refused_connections >= 20,
            timeout=10,
            what="the extra connections refused",
        )
        # Each waiting hello holds its thread and its deadline's timer: a fixed bound.
        assert threading.active_count() <= baseline + 2 * handoff.MAX_HANDSHAKES + 1
        # Past the deadline the slots are free again: an honest client gets in.
        wait_until(lambda: threading.active_count() <= baseline + 1, timeout=10, what="slots freed")
    finally:
        for sock in silent:
            sock.close()
    conn = hello(server, server.token)
    conn.close()


def test_a_negative_sample_index_is_refused():
    train = [(np.full((2,), float(i)), i) for i in range(5)]
    loaded = LoadedDataset("", train, None, DatasetSettings(split="ordered"))
    assert float(get_sample(loaded, "train", 0)[0][0]) == 0.0
    with pytest.raises(DatasetError, match="negative"):
        get_sample(loaded, "train", -1)
    training, _ = make_splits(train, None, DatasetSettings())
    with pytest.raises(IndexError, match="negative"):
        training[-1]


def test_names_from_a_data_server_stay_in_their_folder(tmp_path):
    """A data server answering with `../` in its cache key or file names is refused."""
    victim = tmp_path / "victim"
    victim.mkdir()
    for meta in (
        {"key": "../victim", "files": {}},
        {"key": "k", "files": {"../../victim/x.bin": {"bytes": 1, "crc32": 0}}},
    ):
        server = handoff.DataServer(lambda ctx, meta=meta: CacheEntry(str(tmp_path / "no"), meta))
        try:
            with pytest.raises(CacheError, match="where a file name belongs"):
                handoff.fetch_dataset(server.link, cache_dir=str(tmp_path / "cache"))
        finally:
            server.close()
    assert victim.is_dir() and not any(victim.iterdir())
