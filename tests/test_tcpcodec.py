"""Round trips, framing and socket behaviour of torchstudio.tcpcodec."""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

from torchstudio import tcpcodec as tc
from torchstudio.tcpcodec import (
    DEFAULT_MAX_PAYLOAD,
    AsyncConnection,
    Connection,
    ConnectionClosed,
    ProtocolError,
)

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def joined(buffers: list) -> bytearray:
    """What a receiver would get: the buffers concatenated, in a writable bytearray."""
    return bytearray(b"".join(bytes(memoryview(b).cast("B")) for b in buffers))


def tensor_bits(t) -> tuple:
    """Kind, dtype, shape and exact bytes (NaN-safe comparison of any tensor)."""
    if isinstance(t, torch.Tensor):
        t = t.resolve_conj().contiguous()
        raw = t.view(torch.int16) if t.dtype == torch.bfloat16 else t
        return ("torch", str(t.dtype), tuple(t.shape), raw.numpy().tobytes())
    a = np.asarray(t)
    a = a.astype(a.dtype.newbyteorder("<"), copy=False)
    return ("numpy", a.dtype.str, a.shape, a.tobytes())


def image_bits(img: Image.Image) -> tuple:
    palette = img.getpalette("RGB") if img.mode == "P" else None
    return (img.mode, img.size, img.tobytes(), palette)


# ---------------------------------------------------------------------------- strategies

NUMPY_DTYPES = ["?", "u1", "i1", "<i2", "<i4", "<i8", "<f2", "<f4", "<f8", "<c8", "<c16"]
TORCH_DTYPES = [
    torch.bool,
    torch.uint8,
    torch.int8,
    torch.int16,
    torch.int32,
    torch.int64,
    torch.float16,
    torch.bfloat16,
    torch.float32,
    torch.float64,
    torch.complex64,
]
SHAPES = hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5)


@st.composite
def numpy_arrays(draw, dtypes=NUMPY_DTYPES):
    arr = draw(hnp.arrays(st.sampled_from(dtypes).map(np.dtype), SHAPES))
    view = draw(st.sampled_from(["plain", "transpose", "step", "reverse"]))
    if view == "transpose":
        arr = arr.T
    elif view == "step" and arr.ndim:
        arr = arr[..., ::2]
    elif view == "reverse" and arr.ndim:
        arr = arr[::-1]
    return arr


@st.composite
def torch_tensors(draw):
    dtype = draw(st.sampled_from(TORCH_DTYPES))
    base = draw(hnp.arrays(np.float32, SHAPES, elements=st.floats(-1e4, 1e4, width=32)))
    t = torch.from_numpy(base)
    if dtype == torch.bool:
        t = t > 0
    elif dtype.is_complex:
        t = torch.complex(t, -t).to(dtype)
    else:
        t = t.to(dtype)
    view = draw(st.sampled_from(["plain", "transpose", "step", "conj"]))
    if view == "transpose" and t.ndim >= 2:
        t = t.transpose(0, -1)
    elif view == "step" and t.ndim:
        t = t[..., ::2]
    elif view == "conj" and dtype.is_complex:
        t = t.conj()  # lazy conjugate bit: must be resolved before sending
    return t


tensors = st.one_of(numpy_arrays(), torch_tensors())

IMAGE_MODES = ["1", "L", "P", "LA", "I;16", "RGB", "RGBA", "CMYK", "I", "F"]


@st.composite
def images(draw):
    mode = draw(st.sampled_from(IMAGE_MODES))
    width, height = draw(st.integers(0, 9)), draw(st.integers(0, 9))
    size = (width * tc._IMAGE_BITS[mode] + 7) // 8 * height
    img = Image.frombytes(mode, (width, height), draw(st.binary(min_size=size, max_size=size)))
    if mode == "P":
        img.putpalette(
            draw(st.binary(min_size=3, max_size=768).map(lambda b: b[: len(b) // 3 * 3]))
        )
    return img


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=20,
)

# ---------------------------------------------------------------------------- scalar codecs


@given(st.integers(-(2**63), 2**63 - 1))
def test_int_round_trip(v):
    assert tc.decode_int(joined(tc.encode_int(v))) == v


def test_int_out_of_range_is_refused():
    with pytest.raises(OverflowError):
        tc.encode_int(2**63)


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_float_round_trip_bitwise(v):
    out = tc.decode_float(joined(tc.encode_float(v)))
    assert struct.pack("<d", out) == struct.pack("<d", v)


@given(st.text())
def test_str_round_trip(s):
    assert tc.decode_str(joined(tc.encode_str(s))) == s


@given(json_values)
def test_json_round_trip(obj):
    assert tc.decode_json(joined(tc.encode_json(obj))) == obj


# ---------------------------------------------------------------------------- tensors


@FAST
@given(tensors)
def test_tensor_round_trip_keeps_dtype_shape_and_bits(t):
    sent = tensor_bits(t)
    for as_torch in (True, False, None):
        out = tc.decode_tensor(joined(tc.encode_tensor(t)), as_torch=as_torch)
        kind = {True: "torch", None: sent[0], False: "numpy"}[as_torch]
        if isinstance(t, torch.Tensor) and t.dtype == torch.bfloat16:
            kind = "torch"  # numpy has no bfloat16
        got = tensor_bits(out)
        assert got[0] == kind
        assert got[2:] == sent[2:]
        if kind == sent[0]:
            assert got[1] == sent[1]


@FAST
@given(st.lists(tensors, max_size=4))
def test_tensors_round_trip(ts):
    out = tc.decode_tensors(joined(tc.encode_tensors(ts)), as_torch=None)
    assert [tensor_bits(t) for t in out] == [tensor_bits(t) for t in ts]


def test_big_endian_and_0d_inputs():
    for arr in (np.arange(6, dtype=">f4").reshape(2, 3), np.array(7, dtype=">i8"), np.float32(2)):
        out = tc.decode_tensor(joined(tc.encode_tensor(arr)), as_torch=False)
        assert out.shape == np.shape(arr)
        np.testing.assert_array_equal(out, arr)


def test_tensor_needing_grad_is_sent():
    t = torch.arange(4.0, requires_grad=True) * 2
    assert torch.equal(tc.decode_tensor(joined(tc.encode_tensor(t))), t.detach())


@pytest.mark.parametrize("encode", [tc.encode_value, tc.encode_tensors, tc.encode_tensor])
def test_tensor_data_is_aligned_in_the_payload(encode):
    # the value tag, tensor count and earlier tensors shift each block: padding must follow
    ts = [
        np.arange(10.0),
        np.array(3, np.int8),
        np.arange(7, dtype=np.float32),
        np.ones((3, 5), np.int16),
    ]
    payload = joined(encode(ts[0] if encode is tc.encode_tensor else ts))
    decoded = {tc.encode_value: tc.decode_value, tc.encode_tensors: tc.decode_tensors}
    out = decoded.get(encode, tc.decode_tensor)(payload, as_torch=False)
    start = np.frombuffer(payload, np.uint8).ctypes.data
    for arr in out if isinstance(out, list) else [out]:
        assert (arr.ctypes.data - start) % 16 == 0
        assert np.shares_memory(arr, np.frombuffer(payload, np.uint8))


def test_sample_goes_out_in_few_buffers():
    # header, count and the small label are merged into bytes around the image's own memory
    image, label = torch.rand(1, 28, 28), torch.tensor(3)
    buffers = tc.encode_value([image, label])
    assert len(buffers) == 3 and np.shares_memory(np.asarray(buffers[1]), image.numpy())
    pieces, total = tc._frame_buffers("sample", buffers)
    assert len(pieces) == 3 and total == sum(len(p) for p in pieces)


def test_tensor_encoding_does_not_copy_contiguous_data():
    t = torch.arange(1000, dtype=torch.float32)
    data = tc.encode_tensor(t)[-1]
    assert np.shares_memory(np.asarray(data), t.numpy())


def test_unsupported_tensor_dtypes_are_refused():
    with pytest.raises(TypeError):
        tc.encode_tensor(np.array(["a"]))
    with pytest.raises(TypeError):
        tc.encode_tensor(torch.zeros(2, dtype=torch.uint16))


# ---------------------------------------------------------------------------- images


@FAST
@given(images())
def test_image_round_trip(img):
    assert image_bits(tc.decode_image(joined(tc.encode_image(img)))) == image_bits(img)


def test_image_is_sent_raw():
    img = Image.new("RGB", (64, 48), (1, 2, 3))
    buffers = tc.encode_image(img)
    assert len(joined(buffers)) < 64 * 48 * 3 + 32


# ---------------------------------------------------------------------------- tagged values

plain_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**80), 2**80),  # beyond int64 falls back to JSON
    st.floats(allow_nan=False),
    st.text(),
    st.binary(),
    json_values,
)


def is_tensor(v) -> bool:
    return isinstance(v, torch.Tensor | np.ndarray)


def value_key(v):
    """A comparable form of any value: exact tensor/image bits, tuples as lists."""
    if is_tensor(v):
        return ("tensor", tensor_bits(v))
    if isinstance(v, Image.Image):
        return ("image", image_bits(v))
    if isinstance(v, list | tuple):
        return ("list", [value_key(x) for x in v])
    if isinstance(v, dict):
        return ("dict", {k: value_key(x) for k, x in v.items()})
    return (type(v).__name__, v)


@FAST
@given(st.one_of(plain_values, tensors, st.lists(tensors, min_size=1, max_size=3), images()))
def test_value_round_trip_every_tag(v):
    out = tc.decode_value(joined(tc.encode_value(v)))
    assert value_key(out) == value_key(v)


nested_values = st.recursive(
    st.one_of(st.none(), st.integers(), st.floats(allow_nan=False), st.text(max_size=5))
    | st.binary(max_size=5)
    | tensors
    | images(),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


@FAST
@given(nested_values)
def test_nested_values_with_tensors_round_trip(v):
    out = tc.decode_value(joined(tc.encode_value(v)))
    assert value_key(out) == value_key(v)


def test_request_dict_with_a_tensor_is_zero_copy_and_aligned():
    tensor = torch.rand(1, 28, 28)
    request = {"code": "renderer = Bitmap()", "tensor": tensor, "size": [64, 48], "raw": b"\0"}
    payload = joined(tc.encode_value(request))
    assert payload[0] == 11  # a dict of tagged values, since JSON cannot hold the tensor
    out = tc.decode_value(payload)
    assert out["code"] == request["code"] and out["size"] == [64, 48] and out["raw"] == b"\0"
    assert torch.equal(out["tensor"], tensor)
    data = out["tensor"].numpy()
    start = np.frombuffer(payload, np.uint8).ctypes.data
    assert np.shares_memory(data, np.frombuffer(payload, np.uint8))
    assert (data.ctypes.data - start) % 16 == 0


def test_bytes_in_pieces_go_out_from_their_own_memory_and_arrive_as_bytes():
    weights = np.arange(1000, dtype=np.float32)
    pieces = tc.BytesPieces([b"header", weights, memoryview(b"tail")])
    assert pieces.nbytes == 6 + 4000 + 4
    buffers = tc.encode_value({"epoch": 3, "data": pieces})
    assert any(np.shares_memory(np.asarray(b), weights) for b in buffers)  # not copied
    out = tc.decode_value(joined(buffers))
    assert out == {"epoch": 3, "data": b"header" + weights.tobytes() + b"tail"}
    assert type(out["data"]) is bytes and bytes(pieces) == out["data"]


def test_large_bytes_can_come_back_as_views_of_the_frame():
    big, small = bytes(range(256)) * 8, b"small"
    payload = joined(tc.encode_value({"data": big, "name": small}))
    out = tc.decode_value(payload, bytes_views_from=len(big))
    assert type(out["data"]) is memoryview and out["data"].readonly and out["data"] == big
    assert np.shares_memory(np.frombuffer(out["data"], np.uint8), np.frombuffer(payload, np.uint8))
    assert type(out["name"]) is bytes  # under the size: a copy, as without the option
    assert type(tc.decode_value(payload)["data"]) is bytes


def test_nesting_is_limited():
    deep: object = np.zeros(1)
    for _ in range(40):
        deep = [deep, 1]
    with pytest.raises(ValueError, match="nested deeper"):
        tc.encode_value(deep)
    with pytest.raises(TypeError, match="keys must be str"):
        tc.encode_value({1: np.zeros(1)})

    def wrap(child: bytes) -> bytes:
        head = b"\x0a" + struct.pack("<IQ", 1, len(child))
        return head + bytes(-len(head) % 16) + child

    payload = bytes(joined(tc.encode_value(np.zeros(1))))
    for _ in range(32):  # the deepest nesting allowed
        payload = wrap(payload)
    assert value_key(tc.decode_value(payload))[0] == "list"
    with pytest.raises(ProtocolError, match="nested deeper"):
        tc.decode_value(wrap(payload))


def test_value_tags():
    def tag(v):
        return joined(tc.encode_value(v))[0]

    assert [tag(None), tag(True), tag(1), tag(1.0), tag("s"), tag(b"b"), tag({"a": 1})] == list(
        range(7)
    )
    assert tag(np.zeros(2)) == 7 and tag(torch.zeros(2)) == 7
    assert tag([np.zeros(2), torch.zeros(1)]) == tag((torch.zeros(1),)) == 8
    assert tag(Image.new("L", (2, 2))) == 9
    assert tag([1, 2]) == tag([]) == tag(2**64) == 6
    assert tag([1, np.zeros(1)]) == 10 and tag({"t": np.zeros(1)}) == 11


def test_value_keeps_tensor_kind_unless_numpy_requested():
    payload = joined(
        tc.encode_value([torch.ones(2), np.ones(2), torch.ones(1, dtype=torch.bfloat16)])
    )
    kinds = [type(t) for t in tc.decode_value(payload)]
    assert kinds == [torch.Tensor, np.ndarray, torch.Tensor]
    kinds = [type(t) for t in tc.decode_value(payload, as_torch=False)]
    assert kinds == [np.ndarray, np.ndarray, torch.Tensor]


def test_numpy_scalars_become_python_values():
    assert tc.decode_value(joined(tc.encode_value(np.int64(5)))) == 5
    assert tc.decode_value(joined(tc.encode_value(np.bool_(True)))) is True


def test_decoding_read_only_bytes_copies_for_torch():
    payload = bytes(joined(tc.encode_value(torch.arange(3))))
    out = tc.decode_value(payload)
    out += 1  # must be writable
    assert out.tolist() == [1, 2, 3]


def test_no_pickle_anywhere():
    source = Path(tc.__file__).read_text()
    assert "pickle" not in source.replace("No pickle", "").replace("no pickle", "")


# ---------------------------------------------------------------------------- frame header


@pytest.mark.parametrize("length", [0, 1, 2**32 - 1, 2**32, 2**32 + 7, 2**40, 2**63, 2**64 - 1])
def test_frame_header_handles_64_bit_lengths(length):
    header = tc.pack_frame_header("weights", length)
    assert len(header) == 1 + 7 + 8
    assert tc.parse_frame_header(header + b"rest", max_payload=2**64) == ("weights", length, 16)


def test_frame_header_wire_format():
    assert tc.pack_frame_header("é", 2**40) == b"\x02\xc3\xa9" + (2**40).to_bytes(8, "little")


def test_frame_header_limits():
    tc.pack_frame_header("x" * 255, 0)
    with pytest.raises(ValueError):
        tc.pack_frame_header("x" * 256, 0)
    with pytest.raises(ValueError):
        tc.pack_frame_header("x", 2**64)
    assert DEFAULT_MAX_PAYLOAD == 64 * 2**30
    with pytest.raises(ProtocolError, match="limit"):
        tc.parse_frame_header(tc.pack_frame_header("x", 2**60))
    with pytest.raises(ProtocolError, match="limit"):
        tc.parse_frame_header(tc.pack_frame_header("x", 1001), max_payload=1000)


def test_huge_declared_payload_is_refused_before_allocating():
    a, b = socket.socketpair()
    b.settimeout(5)
    with a, b:
        a.sendall(tc.pack_frame_header("weights", 2**60))
        start = time.perf_counter()
        with pytest.raises(ProtocolError, match="limit"):
            Connection(b).recv_frame()
        # a custom limit applies the same way, even under the default one
        a.sendall(tc.pack_frame_header("weights", 2**33))
        with pytest.raises(ProtocolError, match="limit"):
            Connection(b, max_payload=2**20).recv_frame()
        assert time.perf_counter() - start < 2


def rss_kib() -> int | None:
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return None
    return int(next(line for line in status.splitlines() if line.startswith("VmRSS")).split()[1])


def test_lying_length_under_the_limit_commits_no_memory():
    # the payload buffer is not zero-filled: memory is only used as data actually arrives
    a, b = socket.socketpair()
    b.settimeout(5)
    with a:
        a.sendall(tc.pack_frame_header("weights", 4 << 30) + bytes(100_000))
    before = rss_kib()
    with pytest.raises((ConnectionClosed, ProtocolError)) as info:  # ProtocolError: no memory
        Connection(b).recv_frame()
    b.close()
    if isinstance(info.value, ConnectionClosed):
        assert info.value.mid_frame
    if before is not None:
        assert rss_kib() - before < 64 << 10


# ---------------------------------------------------------------------------- I/O helpers


def test_consume_handles_partial_writes():
    pieces = [b"abc", memoryview(b"de"), b"fgh"]
    tc._consume(pieces, 4)
    assert [bytes(p) for p in pieces] == [b"e", b"fgh"]
    tc._consume(pieces, 1)
    assert [bytes(p) for p in pieces] == [b"fgh"]
    tc._consume(pieces, 2)
    assert [bytes(p) for p in pieces] == [b"h"]
    tc._consume(pieces, 1)
    assert pieces == []


def test_big_payload_buffers_are_bytearrays():
    for size in (0, 100, 1 << 20, 5 << 20):
        buf = tc._payload_buffer(size)
        assert type(buf) is bytearray and len(buf) == size
        buf[-1:] = b"x"  # writable, whole size usable


class ChunkedSocket:
    """Fake socket delivering a byte stream in given chunk sizes (exercises the reader)."""

    family = socket.AF_UNIX

    def __init__(self, data: bytes, sizes: list[int]) -> None:
        self.data, self.sizes, self.pos = data, sizes, 0

    def recv_into(self, view: memoryview) -> int:
        size = self.sizes.pop(0) if self.sizes else 1 << 20
        n = min(len(view), size, len(self.data) - self.pos)
        view[:n] = self.data[self.pos : self.pos + n]
        self.pos += n
        return n


@settings(max_examples=80, deadline=None)
@given(
    frames=st.lists(
        st.tuples(
            st.text(max_size=3),
            st.integers(0, 3) | st.integers(0, 70_000),
            st.integers(0, 255),
        ),
        max_size=8,
    ),
    sizes=st.lists(st.integers(1, 100_000), max_size=30),
)
def test_reader_reassembles_any_chunking(frames, sizes):
    wire = b""
    for name, size, fill in frames:
        wire += tc.pack_frame_header(name, size) + bytes([fill]) * size
    conn = Connection(ChunkedSocket(wire, sizes))
    for name, size, fill in frames:
        assert conn.recv_frame() == (name, bytearray([fill]) * size)
    with pytest.raises(ConnectionClosed) as info:
        conn.recv_frame()
    assert not info.value.mid_frame


# ---------------------------------------------------------------------------- blocking sockets


@pytest.fixture
def pair():
    a, b = socket.socketpair()
    a.settimeout(10)
    b.settimeout(10)
    ca, cb = Connection(a), Connection(b)
    yield ca, cb
    ca.close()
    cb.close()


def test_socketpair_values(pair):
    ca, cb = pair
    values = [None, True, -5, 2.5, "héllo", b"\x00\xff", {"k": [1, 2.0, None]}, torch.ones(2, 3)]
    values += [[np.zeros((2, 2)), torch.arange(3)], Image.new("RGB", (3, 2), (9, 8, 7))]
    for i, value in enumerate(values):
        ca.send(f"m{i}", value)
    for i, value in enumerate(values):
        name, out = cb.recv()
        assert name == f"m{i}"
        assert value_key(out) == value_key(value)
    cb.send("reply")
    assert ca.recv() == ("reply", None)


def test_zero_copy_receive(pair):
    ca, cb = pair
    arr = np.arange(3 * 28 * 28, dtype=np.float32).reshape(3, 28, 28)
    ca.send("sample", arr)
    _, payload = cb.recv_frame()
    out = tc.decode_value(payload)
    np.testing.assert_array_equal(out, arr)
    assert isinstance(payload, bytearray) and len(payload) < arr.nbytes + 64
    base = out
    while isinstance(base, np.ndarray):
        base = base.base
    assert base is payload  # a view of the received buffer, not a copy
    assert np.shares_memory(out, np.frombuffer(payload, np.uint8))
    assert out.ctypes.data % 16 == 0

    ca.send("sample", torch.from_numpy(arr))
    _, payload = cb.recv_frame()
    t = tc.decode_value(payload)
    assert isinstance(t, torch.Tensor)
    assert np.shares_memory(t.numpy(), np.frombuffer(payload, np.uint8))


def test_many_buffers_exceed_iov_max(pair):
    ca, cb = pair
    buffers = [bytes([i % 256]) * (i % 7) for i in range(3 * max(tc._IOV_MAX, 1024))]
    sender = threading.Thread(target=ca.send_frame, args=("many", buffers))
    sender.start()
    assert cb.recv_frame() == ("many", joined(buffers))
    sender.join()
    ts = [np.full(3, i, dtype=np.int16) for i in range(1500)]
    sender = threading.Thread(target=ca.send, args=("ts", ts))
    sender.start()
    _, out = cb.recv()
    sender.join()
    assert [t.tolist() for t in out] == [t.tolist() for t in ts]


def test_concurrent_senders_do_not_interleave(pair):
    ca, cb = pair
    per_thread, threads = 50, 4

    def work(k):
        for i in range(per_thread):
            ca.send("t", np.full(5000 + i, k * 1000 + i, dtype=np.int32))

    workers = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    for w in workers:
        w.start()
    for _ in range(per_thread * threads):
        _, t = cb.recv()
        assert (t == t[0]).all() and len(t) == 5000 + int(t[0]) % 1000
    for w in workers:
        w.join()


def test_loopback_tcp_big_payload():
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        client = Connection.connect("127.0.0.1", port, timeout=5)
        peer, _ = server.accept()
    peer.settimeout(20)
    receiver = Connection(peer)
    # far bigger than the socket buffers: needs partial sends and many receives
    big = torch.randn(8, 1024, 1024)
    result = {}
    reader = threading.Thread(target=lambda: result.update(v=receiver.recv()))
    reader.start()
    client.send("weights", big)
    reader.join(20)
    name, out = result["v"]
    assert name == "weights" and torch.equal(out, big)
    receiver.send("ack", 1)
    assert client.recv() == ("ack", 1)
    client.close()
    receiver.close()


def test_clean_close_and_mid_frame_disconnect():
    a, b = socket.socketpair()
    b.settimeout(5)
    conn = Connection(b)
    Connection(a).send("last", 42)
    a.close()
    assert conn.recv() == ("last", 42)
    with pytest.raises(ConnectionClosed) as info:
        conn.recv()
    assert info.value.mid_frame is False
    assert not isinstance(info.value, ProtocolError)

    frame = tc.pack_frame_header("data", 100) + b"x" * 100
    for cut in (1, 5, len(frame) - 100, len(frame) - 1):
        a, b = socket.socketpair()
        b.settimeout(5)
        a.sendall(frame[:cut])
        a.close()
        with pytest.raises(ConnectionClosed) as info:
            Connection(b).recv_frame()
        assert info.value.mid_frame is True
        b.close()


def test_sending_to_a_closed_peer_raises_connection_closed():
    a, b = socket.socketpair()
    b.close()
    conn = Connection(a)
    with pytest.raises(ConnectionClosed):
        for _ in range(100):
            conn.send("x", np.zeros(100_000))
    conn.close()


# ---------------------------------------------------------------------------- asyncio


async def test_async_socketpair_values():
    a, b = socket.socketpair()
    ca, cb = AsyncConnection(a), AsyncConnection(b)
    values = [None, 3, "é", {"a": [1]}, torch.arange(6).reshape(2, 3).t()]
    values.append([np.ones(2), torch.zeros(1)])
    for value in values:
        await ca.send("v", value)
    for value in values:
        _, out = await asyncio.wait_for(cb.recv(), 5)
        assert value_key(out) == value_key(value)
    ca.close()
    with pytest.raises(ConnectionClosed) as info:
        await asyncio.wait_for(cb.recv(), 5)
    assert info.value.mid_frame is False
    cb.close()


async def test_async_loopback_tcp_big_payload_and_sync_peer():
    loop = asyncio.get_running_loop()
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.setblocking(False)
        port = server.getsockname()[1]
        client, (peer, _) = await asyncio.gather(
            AsyncConnection.connect("127.0.0.1", port), loop.sock_accept(server)
        )
    app = AsyncConnection(peer)
    big = np.random.default_rng(0).standard_normal((4, 1024, 1024), dtype=np.float32)
    _, (name, out) = await asyncio.wait_for(asyncio.gather(client.send("big", big), app.recv()), 20)
    assert name == "big" and isinstance(out, np.ndarray) and np.array_equal(out, big)
    # concurrent sends are serialized by the asyncio lock
    sends = [client.send(f"m{i}", np.full(200_000, i)) for i in range(5)]
    received = asyncio.gather(*[app.recv() for _ in range(5)])
    _, got = await asyncio.wait_for(asyncio.gather(asyncio.gather(*sends), received), 20)
    assert sorted(name for name, _ in got) == [f"m{i}" for i in range(5)]
    assert all((t == int(name[1:])).all() for name, t in got)
    client.close()
    app.close()


async def test_async_mid_frame_disconnect():
    a, b = socket.socketpair()
    a.sendall(tc.pack_frame_header("data", 10) + b"abc")
    a.close()
    conn = AsyncConnection(b)
    with pytest.raises(ConnectionClosed) as info:
        await asyncio.wait_for(conn.recv_frame(), 5)
    assert info.value.mid_frame is True
    conn.close()


async def test_async_and_blocking_interoperate():
    a, b = socket.socketpair()
    b.settimeout(5)
    app, worker = AsyncConnection(a), Connection(b)
    thread = threading.Thread(target=lambda: worker.send("progress", {"epoch": 1}))
    thread.start()
    assert await asyncio.wait_for(app.recv(), 5) == ("progress", {"epoch": 1})
    thread.join()
    await app.send("cmd", "stop")
    assert worker.recv() == ("cmd", "stop")
    app.close()
    worker.close()


# ---------------------------------------------------------------------------- malformed input


def tensor_payload(code=9, flags=0, ndim=1, nbytes=8, dims=(2,), data=b"\0" * 8) -> bytes:
    head = struct.pack("<BBHiQ", code, flags, 0, ndim, nbytes)
    head += struct.pack(f"<{len(dims)}Q", *dims)
    return head + bytes(-len(head) % 16) + data


@pytest.mark.parametrize(
    ("decode", "payload", "message"),
    [
        (tc.decode_int, b"\0" * 7, "8 bytes"),
        (tc.decode_float, b"\0" * 9, "8 bytes"),
        (tc.decode_str, b"\xff\xfe", "invalid UTF-8"),
        (tc.decode_json, b"{'a': 1}", "bad JSON"),
        (tc.decode_json, b"[" * 100_000, "bad JSON"),
        (tc.decode_tensor, tensor_payload()[:10], "truncated tensor header"),
        (tc.decode_tensor, tensor_payload(code=99), "unknown dtype code 99"),
        (tc.decode_tensor, tensor_payload(flags=8), "unknown tensor flags"),
        (tc.decode_tensor, tensor_payload(ndim=-1, dims=()), "negative tensor ndim"),
        (tc.decode_tensor, tensor_payload(ndim=2**31 - 1, dims=()), "above the maximum"),
        (tc.decode_tensor, tensor_payload(ndim=3, dims=(2,), data=b""), "truncated tensor shape"),
        (tc.decode_tensor, tensor_payload(nbytes=12, data=b"\0" * 12), "needs 8 bytes"),
        (tc.decode_tensor, tensor_payload(dims=(2**62,), nbytes=2**64 - 1), "needs"),
        (tc.decode_tensor, tensor_payload(data=b"\0" * 4), "truncated tensor data"),
        (tc.decode_tensor, tensor_payload(data=b"\0" * 9), "trailing"),
        (
            tc.decode_tensor,
            tensor_payload(ndim=2, dims=(0, 2**63), nbytes=0, data=b""),
            "2\\*\\*63",
        ),
        (tc.decode_tensors, b"\xff\xff\xff\xff", "cannot fit"),
        (tc.decode_image, b"\x03RGB" + struct.pack("<III", 2, 2, 0) + b"\0" * 11, "needs 12"),
        (tc.decode_image, b"\x03XYZ" + struct.pack("<III", 1, 1, 0), "unsupported image mode"),
        (tc.decode_image, b"\x01L" + struct.pack("<III", 0, 2**32 - 1, 0), "implausible"),
        (tc.decode_value, b"", "missing tag"),
        (tc.decode_value, b"\x63", "unknown value tag 99"),
        (tc.decode_value, b"\x01\x02", "bool"),
        (tc.decode_value, b"\x00\x00", "trailing"),
        (tc.decode_value, b"\x0a" + struct.pack("<I", 1000), "1000 items cannot fit"),
        (tc.decode_value, b"\x0b\x01\0\0\0\x01\0\xff" + struct.pack("<Q", 1) + b"\0", "dict key"),
        (tc.decode_value, b"\x0a\x01\0\0\0" + struct.pack("<Q", 2**60) + bytes(20), "item"),
        (
            tc.decode_value,
            b"\x0a\x01\0\0\0" + struct.pack("<Q", 1) + bytes(3) + b"\x00\x00",
            "trailing",
        ),
    ],
)
def test_malformed_payloads_raise_protocol_error(decode, payload, message):
    with pytest.raises(ProtocolError, match=message):
        decode(bytearray(payload))


def test_malformed_frame_headers():
    with pytest.raises(ProtocolError, match="truncated frame header"):
        tc.parse_frame_header(b"")
    with pytest.raises(ProtocolError, match="truncated frame header"):
        tc.parse_frame_header(b"\x05abc")
    with pytest.raises(ProtocolError, match="invalid UTF-8 in message type"):
        tc.parse_frame_header(b"\x01\xff" + bytes(8))


def test_value_error_leaves_connection_usable(pair):
    ca, cb = pair
    ca.send_frame("bad", [b"\x63"])
    ca.send("good", json.loads("[1]"))
    with pytest.raises(ProtocolError):
        cb.recv()
    assert cb.recv() == ("good", [1])
