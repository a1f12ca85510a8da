"""Fuzzing: random and mutated bytes may only raise ProtocolError or ConnectionClosed."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import tracemalloc

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from torchstudio import tcpcodec as tc
from torchstudio.tcpcodec import AsyncConnection, Connection, ConnectionClosed, ProtocolError

FUZZ = settings(max_examples=800, deadline=None, suppress_health_check=list(HealthCheck))
SOCKET_FUZZ = settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck))
MAX_PAYLOAD = 1 << 20  # keeps the allocation for a lying (but allowed) length small
TIMEOUT = 5  # a reader that hangs fails with TimeoutError instead of blocking the run

DECODERS = [
    tc.decode_int,
    tc.decode_float,
    tc.decode_str,
    tc.decode_json,
    tc.decode_tensor,
    lambda b: tc.decode_tensor(b, as_torch=False),
    tc.decode_tensors,
    tc.decode_image,
    tc.decode_value,
    lambda b: tc.decode_value(b, as_torch=False),
]


def payload_bytes(buffers: list) -> bytes:
    return b"".join(bytes(memoryview(b).cast("B")) for b in buffers)


def _sample_values() -> list:
    palette_image = Image.new("P", (3, 2))
    palette_image.putpalette(bytes(range(30)))
    return [
        None,
        True,
        -123456789,
        2.5,
        "héllo",
        b"\x00\x01",
        {"a": [1, 2.5, None, "x"]},
        np.arange(12, dtype=np.int16).reshape(3, 4),
        torch.arange(6, dtype=torch.bfloat16).reshape(2, 3),
        torch.tensor(3.5),
        [torch.zeros(1, 4, 4), torch.tensor(7)],
        [np.zeros(0, dtype=np.complex64)],
        Image.new("RGB", (4, 3), (1, 2, 3)),
        palette_image,
        Image.new("1", (9, 2)),
        {"code": "x = 1", "tensor": torch.ones(2, 3), "size": [64, 48], "raw": b"\xff"},
        [None, np.arange(3), [b"", {"deep": torch.tensor(2)}]],
    ]


VALID_PAYLOADS = [payload_bytes(tc.encode_value(v)) for v in _sample_values()]
VALID_PAYLOADS += [
    payload_bytes(tc.encode_tensor(np.ones((2, 3), dtype=np.float32))),
    payload_bytes(tc.encode_tensors([np.ones(3), torch.ones(2, 2)])),
    payload_bytes(tc.encode_image(Image.new("LA", (2, 2)))),
    payload_bytes(tc.encode_json([1, {"b": "c"}])),
]


def lies(width: int) -> st.SearchStrategy[int]:
    """Length-like values that tend to break parsers: edges, powers of two, random."""
    top = (1 << (8 * width)) - 1
    edges = [0, 1, 2, 7, 8, 15, 16, 255, 256, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**40]
    edges += [2**60, 2**63 - 1, 2**63, 2**64 - 1]
    return st.sampled_from([e for e in edges if e <= top]) | st.integers(0, top)


@st.composite
def mutate(draw, data: bytes) -> bytes:
    """Flip bytes, truncate, extend, or overwrite 1/4/8 bytes with a lying length."""
    data = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "truncate", "extend", "lie"]))
        if op == "flip" and data:
            i = draw(st.integers(0, len(data) - 1))
            data[i] ^= draw(st.integers(1, 255))
        elif op == "truncate":
            del data[draw(st.integers(0, len(data))) :]
        elif op == "extend":
            data += draw(st.binary(min_size=1, max_size=40))
        elif op == "lie":
            width = draw(st.sampled_from([1, 4, 8]))
            if len(data) >= width:
                i = draw(st.integers(0, len(data) - width))
                data[i : i + width] = draw(lies(width)).to_bytes(width, "little")
    return bytes(data)


mutated_payloads = st.sampled_from(VALID_PAYLOADS).flatmap(mutate)


def frame(payload: bytes, name: str = "msg") -> bytes:
    return tc.pack_frame_header(name, len(payload)) + payload


mutated_streams = st.lists(
    st.sampled_from(VALID_PAYLOADS).map(frame).flatmap(mutate), min_size=1, max_size=3
).map(b"".join)


def decode_all(data: bytes) -> None:
    for decode in DECODERS:
        for buf in (data, bytearray(data)):  # read-only and writable inputs take other paths
            with contextlib.suppress(ProtocolError):
                decode(buf)


# ---------------------------------------------------------------------------- in memory


@FUZZ
@given(st.binary(max_size=400))
def test_decoders_on_random_bytes(data):
    decode_all(data)


@FUZZ
@given(mutated_payloads)
def test_decoders_on_mutated_payloads(data):
    decode_all(data)


@FUZZ
@given(st.binary(max_size=300) | mutated_streams, st.integers(0, 2**64 - 1))
def test_parse_frame_header_on_any_bytes(data, limit):
    try:
        msg_type, size, header_len = tc.parse_frame_header(data, max_payload=limit)
    except ProtocolError:
        return
    assert header_len <= len(data) and size <= limit
    assert tc.pack_frame_header(msg_type, size) == data[:header_len]


def test_lying_lengths_do_not_allocate():
    def tensor(ndim: int, nbytes: int, dims: tuple) -> bytes:
        return struct.pack(f"<BBHiQ{len(dims)}Q", 9, 0, 0, ndim, nbytes, *dims)

    liars = [
        (tc.decode_tensor, tensor(1, 2**42, (2**40,))),
        (tc.decode_tensor, tensor(2, 2**62, (2**30, 2**30))),
        (tc.decode_tensors, struct.pack("<I", 2**32 - 1) + tensor(1, 4, (1,))),
        (tc.decode_image, b"\x03RGB" + struct.pack("<III", 65535, 65535, 0)),
        (tc.decode_image, b"\x01P" + struct.pack("<III", 1, 1, 2**32 - 1)),
        (tc.decode_value, b"\x08" + struct.pack("<I", 2**31) + tensor(1, 4, (1,))),
    ]
    tracemalloc.start()
    try:
        for decode, data in liars:
            with pytest.raises(ProtocolError):
                decode(bytearray(data))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20


# ---------------------------------------------------------------------------- over sockets


def recv_until_error(data: bytes) -> None:
    """Write ``data`` then close; the reader must end in ProtocolError or ConnectionClosed."""
    writer, reader = socket.socketpair()
    reader.settimeout(TIMEOUT)
    with writer:
        writer.sendall(data)  # small enough for the socket buffer
    conn = Connection(reader, max_payload=MAX_PAYLOAD)
    try:
        for _ in range(len(data) + 1):  # each frame takes at least 9 bytes: this always ends
            conn.recv()
    except (ProtocolError, ConnectionClosed):
        return
    finally:
        conn.close()
    raise AssertionError("reader neither failed nor saw the connection close")


@SOCKET_FUZZ
@given(st.binary(max_size=2000))
def test_connection_recv_on_random_bytes(data):
    recv_until_error(data)


@SOCKET_FUZZ
@given(mutated_streams)
def test_connection_recv_on_mutated_frames(data):
    recv_until_error(data)


@SOCKET_FUZZ
@given(st.lists(st.sampled_from(VALID_PAYLOADS), max_size=3), st.data())
def test_connection_close_reports_mid_frame(payloads, data):
    stream = b"".join(frame(p) for p in payloads)
    cut = data.draw(st.integers(0, len(stream)))
    writer, reader = socket.socketpair()
    reader.settimeout(TIMEOUT)
    with writer:
        writer.sendall(stream[:cut])
    conn = Connection(reader)
    received = 0
    with pytest.raises(ConnectionClosed) as info:
        while True:
            conn.recv_frame()
            received += 1
    conn.close()
    boundaries = {sum(len(frame(p)) for p in payloads[:i]) for i in range(len(payloads) + 1)}
    assert info.value.mid_frame == (cut not in boundaries)
    assert received == sum(1 for b in boundaries if 0 < b <= cut)


async def _async_recv_until_error(data: bytes) -> None:
    writer, reader = socket.socketpair()
    with writer:
        writer.sendall(data)
    conn = AsyncConnection(reader, max_payload=MAX_PAYLOAD)
    try:
        for _ in range(len(data) + 1):
            await asyncio.wait_for(conn.recv(), TIMEOUT)
    except (ProtocolError, ConnectionClosed):
        return
    finally:
        conn.close()
    raise AssertionError("reader neither failed nor saw the connection close")


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.binary(max_size=500) | mutated_streams)
def test_async_connection_recv_on_bad_bytes(data):
    asyncio.run(_async_recv_until_error(data))
