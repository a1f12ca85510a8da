"""The dataset hand-off between workers: `datasetload` serves its cache, others fetch it.

`DataServer` runs inside `datasetload` on its own port, with its own token, and answers
two requests through the worker framework's dispatch: `dataset` (build or reuse the cache
entry and describe it) and `chunk` (a slice of one of its files). `fetch_dataset` is the
client: on the same machine it memory-maps the entry where it lies; elsewhere it first
looks in its own cache, then streams the files in large chunks, verifies them and maps
its copy.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Callable
from typing import Any

from torchstudio import tcpcodec
from torchstudio.data.cache import META_FILE, CacheEntry, CacheError, default_cache_dir
from torchstudio.worker import HELLO, Handlers, WorkerContext, call, same_secret, serve

CHUNK_BYTES = 32 * 1024 * 1024
HANDSHAKE_MAX_PAYLOAD = 64 * 1024  # until a client has shown the token
HANDSHAKE_SECONDS = 10.0  # for the whole hello, however slowly its bytes come
MAX_HANDSHAKES = 16  # connections at once that have not shown the token yet
EntryProvider = Callable[[WorkerContext], CacheEntry]


class DataServer:
    """Serves one dataset's cache entry to other workers, a thread per connection."""

    def __init__(self, provide_entry: EntryProvider, address: str = "127.0.0.1") -> None:
        self.token = secrets.token_hex(32)
        self._provide_entry = provide_entry
        self._entry: CacheEntry | None = None
        self._build_lock = threading.Lock()
        self._listener = socket.create_server((address, 0))
        self.address = address
        self.port: int = self._listener.getsockname()[1]
        self.handlers = Handlers()
        self.handlers.add("dataset", self._dataset)
        self.handlers.add("chunk", self._chunk)
        # Slow or silent connections may not pile up threads: few at once, each for a while.
        self._handshakes = threading.BoundedSemaphore(MAX_HANDSHAKES)
        self.refused_connections = 0
        threading.Thread(target=self._accept_loop, name="data-server", daemon=True).start()

    @property
    def link(self) -> dict[str, Any]:
        """What another worker needs to fetch the dataset (the app passes it along)."""
        return {"address": self.address, "port": self.port, "token": self.token}

    def invalidate(self) -> None:
        """The dataset changed: the next request gets a fresh entry."""
        with self._build_lock:
            self._entry = None

    def close(self) -> None:
        self._listener.close()

    def _accept_loop(self) -> None:
        failed = ""
        while True:
            try:
                sock, _ = self._listener.accept()
            except OSError as exc:
                if self._listener.fileno() < 0:
                    return  # closed
                # Out of file descriptors, a connection reset before accept...: go on.
                if str(exc) != failed:
                    print(f"data server: accept failed, going on: {exc}", file=sys.stderr)
                failed = str(exc)
                time.sleep(0.1)  # back off: the cause (too many open files) takes a while
                continue
            failed = ""
            if not self._handshakes.acquire(blocking=False):
                self.refused_connections += 1
                sock.close()
                continue
            threading.Thread(target=self._serve_client, args=(sock,), daemon=True).start()

    def _hello(self, conn: tcpcodec.Connection) -> bool:
        """Whether the client shows the token within HANDSHAKE_SECONDS in all."""
        # Per-receive timeouts alone let a client send a byte every few seconds forever.
        deadline = threading.Timer(HANDSHAKE_SECONDS, _shut, args=(conn.sock,))
        deadline.start()
        try:
            conn.sock.settimeout(HANDSHAKE_SECONDS)
            msg_type, hello = conn.recv()
            conn.sock.settimeout(None)
        finally:
            deadline.cancel()
            self._handshakes.release()
        return (
            msg_type == HELLO
            and isinstance(hello, dict)
            and same_secret(hello.get("token"), self.token)
        )

    def _serve_client(self, sock: socket.socket) -> None:
        conn = tcpcodec.Connection(sock, max_payload=HANDSHAKE_MAX_PAYLOAD)
        try:
            if not self._hello(conn):
                return
            conn.max_payload = tcpcodec.DEFAULT_MAX_PAYLOAD
            serve(self.handlers, conn, "datasetload data server")
        except (tcpcodec.ProtocolError, tcpcodec.ConnectionClosed, OSError) as exc:
            print(f"data server: dropped a client: {exc}", file=sys.stderr)
        finally:
            conn.close()

    def _dataset(self, value: Any, ctx: WorkerContext) -> dict[str, Any]:
        with self._build_lock:
            if self._entry is None or not os.path.isdir(self._entry.folder):
                self._entry = self._provide_entry(ctx)
            entry = self._entry
        return {"folder": entry.folder, "meta": entry.meta}

    def _chunk(self, value: Any, ctx: WorkerContext) -> bytes:
        entry = self._entry
        if entry is None:
            raise ValueError("ask for the dataset before its chunks")
        name, offset, length = value["file"], int(value["offset"]), int(value["length"])
        if name not in entry.meta["files"]:
            raise ValueError(f"{name!r} is not a file of this dataset")
        size = entry.meta["files"][name]["bytes"]
        if offset < 0 or length < 0 or offset + length > size or length > CHUNK_BYTES:
            raise ValueError(f"chunk {offset}+{length} is outside {name} ({size} bytes)")
        buffer = bytearray(length)
        with open(os.path.join(entry.folder, name), "rb", buffering=0) as file:
            file.seek(offset)
            view = memoryview(buffer)
            read = 0
            while read < length:
                got = file.readinto(view[read:])
                if not got:
                    raise CacheError(f"{name} ended early at byte {offset + read}")
                read += got
        return buffer  # a bytearray is sent without another copy


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def fetch_dataset(
    link: dict[str, Any],
    cache_dir: str | None = None,
    progress: Callable[[float, str], None] | None = None,
) -> CacheEntry:
    """Get the dataset from a `datasetload` data server; returns the mapped cache entry."""
    conn = tcpcodec.Connection.connect(link["address"], int(link["port"]), timeout=30)
    conn.sock.settimeout(None)
    try:
        conn.send(HELLO, {"token": link["token"]})

        def relay(msg_type: str, value: Any) -> None:
            if msg_type == "progress" and progress is not None:
                progress(value["fraction"], value["text"])

        described = call(conn, "dataset", None, relay)
        meta, folder = described["meta"], described["folder"]
        # Names from the other end become paths here: each must stay in its folder.
        for name in [meta["key"], *meta["files"]]:
            if (
                not isinstance(name, str)
                or name in ("", ".", "..")
                or os.path.basename(name) != name
            ):
                raise CacheError(f"the data server sent {name!r} where a file name belongs")
        if _same_entry(folder, meta):
            return CacheEntry(folder, meta)  # same machine: the server verified it
        local = os.path.join(cache_dir or default_cache_dir(), meta["key"])
        if os.path.isdir(local):
            try:
                entry = CacheEntry.open(local, verify=True)
                if entry.meta["files"] == meta["files"]:
                    return entry
            except CacheError:
                pass
            shutil.rmtree(local, ignore_errors=True)
        return _download(conn, meta, local, progress)
    finally:
        conn.close()


def _same_entry(folder: str, meta: dict[str, Any]) -> bool:
    try:
        with open(os.path.join(folder, META_FILE)) as file:
            return json.load(file) == meta
    except (OSError, ValueError):
        return False


def _download(
    conn: tcpcodec.Connection,
    meta: dict[str, Any],
    folder: str,
    progress: Callable[[float, str], None] | None,
) -> CacheEntry:
    parent = os.path.dirname(folder)
    os.makedirs(parent, exist_ok=True)
    temporary = tempfile.mkdtemp(prefix=f".{meta['key']}-", dir=parent)
    try:
        total = sum(f["bytes"] for f in meta["files"].values()) or 1
        received = 0
        for name, expected in meta["files"].items():
            crc = 0
            with open(os.path.join(temporary, name), "wb") as file:
                for offset in range(0, expected["bytes"], CHUNK_BYTES):
                    length = min(CHUNK_BYTES, expected["bytes"] - offset)
                    data = call(conn, "chunk", {"file": name, "offset": offset, "length": length})
                    if len(data) != length:
                        raise CacheError(
                            f"{name}: got {len(data)} bytes at {offset}, asked {length}"
                        )
                    file.write(data)
                    crc = zlib.crc32(data, crc)
                    received += length
                    if progress is not None:
                        progress(received / total, f"receiving the dataset: {received >> 20} MiB")
            if crc != expected["crc32"]:
                raise CacheError(f"{name} arrived corrupt (checksum mismatch)")
        with open(os.path.join(temporary, META_FILE), "w") as file:
            json.dump(meta, file)
        os.replace(temporary, folder)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    return CacheEntry(folder, meta)
