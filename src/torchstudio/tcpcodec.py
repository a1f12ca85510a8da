"""Framing and payload codecs for the app <-> worker TCP protocol.

A frame on the wire is::

    [1 byte N][N bytes UTF-8 message type][8 bytes little-endian uint64 payload length][payload]

Payload codecs turn values into lists of bytes-like buffers, so a tensor's own memory can be
handed to a scatter write (``socket.sendmsg``) instead of being copied into one big ``bytes``.
On receive, the payload is read straight into one ``bytearray`` of the declared size, and
decoded tensors are zero-copy views of it (tensor data is aligned to 16 bytes in the payload).

Everything that parses wire data is a pure function shared by the blocking :class:`Connection`
and the asyncio :class:`AsyncConnection`; the two classes only differ in how they do I/O.
Malformed input raises :class:`ProtocolError`; a peer going away raises
:class:`ConnectionClosed`. No pickle is used anywhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import functools
import json
import math
import mmap
import os
import socket
import struct
import sys
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch
    from PIL import Image

__all__ = [
    "DEFAULT_MAX_PAYLOAD",
    "AsyncConnection",
    "Connection",
    "ConnectionClosed",
    "ProtocolError",
    "decode_float",
    "decode_image",
    "decode_int",
    "decode_json",
    "decode_str",
    "decode_tensor",
    "decode_tensors",
    "decode_value",
    "encode_float",
    "encode_image",
    "encode_int",
    "encode_json",
    "encode_str",
    "encode_tensor",
    "encode_tensors",
    "encode_value",
    "pack_frame_header",
    "parse_frame_header",
]

DEFAULT_MAX_PAYLOAD = 64 << 30  # 64 GiB: large model weights fit, absurd lengths do not
MAX_TYPE_LEN = 255
MAX_NDIM = 64  # numpy's own limit

_ALIGN = 16  # tensor data offset inside a payload, so zero-copy views are SIMD friendly
_READAHEAD = 64 << 10  # small frames are parsed out of this buffer, saving recv calls
_DIRECT_MIN = 16 << 10  # payload remainders at least this big are received in place
_MAX_HEADER = 1 + MAX_TYPE_LEN + 8
_HAS_SENDMSG = hasattr(socket.socket, "sendmsg")  # not on Windows


def _iov_max() -> int:
    try:
        value = os.sysconf("SC_IOV_MAX")
    except (AttributeError, ValueError, OSError):
        value = -1
    return value if value > 0 else 16  # POSIX guarantees at least 16


_IOV_MAX = _iov_max()

_U64 = struct.Struct("<Q")
_I64 = struct.Struct("<q")
_F64 = struct.Struct("<d")
_U32 = struct.Struct("<I")
# dtype code, flags, reserved, ndim (signed, so a negative value is caught), data byte count
_TENSOR_HEAD = struct.Struct("<BBHiQ")
_DIMS = [struct.Struct(f"<{n}Q") for n in range(MAX_NDIM + 1)]
_MAX_DIM = (1 << 63) - 1  # numpy and torch sizes are signed 64-bit
_IMAGE_HEAD = struct.Struct("<III")  # width, height, palette byte count


class ProtocolError(Exception):
    """The bytes received do not form a valid frame or payload."""


class ConnectionClosed(Exception):
    """The peer closed the connection; ``mid_frame`` tells whether a frame was cut short."""

    def __init__(self, mid_frame: bool = False) -> None:
        self.mid_frame = mid_frame
        what = "in the middle of a frame" if mid_frame else "between frames"
        super().__init__(f"connection closed by peer {what}")

    def __reduce__(self) -> tuple:
        return (type(self), (self.mid_frame,))


# ---------------------------------------------------------------------------- helpers


def _byte_view(buf: Any) -> memoryview:
    """A flat unsigned-byte view of any bytes-like object (no copy)."""
    mv = buf if isinstance(buf, memoryview) else memoryview(buf)
    if mv.ndim != 1 or mv.format != "B":
        mv = mv.cast("B")
    return mv


def _truncated(what: str, need: int, have: int) -> ProtocolError:
    return ProtocolError(f"truncated {what}: need {need} bytes, payload has {have}")


def _need(mv: memoryview, end: int, what: str) -> None:
    if end > len(mv):
        raise _truncated(what, end, len(mv))


def _no_trailing(mv: memoryview, end: int, what: str) -> None:
    if end != len(mv):
        raise ProtocolError(f"{len(mv) - end} unexpected trailing bytes after {what}")


def _utf8(data: memoryview, what: str) -> str:
    try:
        return str(data, "utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolError(f"invalid UTF-8 in {what}: {exc.reason} at byte {exc.start}") from None


# ---------------------------------------------------------------------------- frame header


@functools.lru_cache(maxsize=1024)
def _type_prefix(msg_type: str) -> bytes:
    name = msg_type.encode("utf-8")
    if len(name) > MAX_TYPE_LEN:
        raise ValueError(f"message type is {len(name)} bytes in UTF-8, at most 255 allowed")
    return bytes((len(name),)) + name


def pack_frame_header(msg_type: str, payload_len: int) -> bytes:
    """Bytes that precede a payload of ``payload_len`` bytes on the wire."""
    try:
        return _type_prefix(msg_type) + _U64.pack(payload_len)
    except struct.error:
        raise ValueError(f"payload length {payload_len} does not fit in a uint64") from None


def parse_frame_header(buf: Any, max_payload: int = DEFAULT_MAX_PAYLOAD) -> tuple[str, int, int]:
    """Parse the header at the start of ``buf``: returns (msg_type, payload_len, header_len).

    Bytes after the header are ignored. The length limit is checked here, so callers never
    allocate for a lying length field.
    """
    mv = _byte_view(buf)
    if not mv:
        raise ProtocolError("truncated frame header: no bytes")
    header_len = 9 + mv[0]
    if len(mv) < header_len:
        raise ProtocolError(f"truncated frame header: need {header_len} bytes, got {len(mv)}")
    msg_type = _utf8(mv[1 : header_len - 8], "message type")
    (payload_len,) = _U64.unpack_from(mv, header_len - 8)
    if payload_len > max_payload:
        raise ProtocolError(
            f"frame {msg_type!r} declares a payload of {payload_len} bytes, "
            f"above the limit of {max_payload}"
        )
    return msg_type, payload_len, header_len


# ---------------------------------------------------------------------------- scalars


def encode_int(v: int) -> list:
    """Signed 64-bit little-endian integer."""
    try:
        return [_I64.pack(v)]
    except struct.error:
        raise OverflowError(f"{v} does not fit in a signed 64-bit integer") from None


def decode_int(buf: Any) -> int:
    mv = _byte_view(buf)
    if len(mv) != 8:
        raise ProtocolError(f"int payload must be 8 bytes, got {len(mv)}")
    return _I64.unpack(mv)[0]


def encode_float(v: float) -> list:
    """IEEE 754 float64, little-endian (nan and inf included)."""
    return [_F64.pack(v)]


def decode_float(buf: Any) -> float:
    mv = _byte_view(buf)
    if len(mv) != 8:
        raise ProtocolError(f"float payload must be 8 bytes, got {len(mv)}")
    return _F64.unpack(mv)[0]


def encode_str(s: str) -> list:
    return [s.encode("utf-8")]


def decode_str(buf: Any) -> str:
    return _utf8(_byte_view(buf), "string")


def encode_json(obj: Any) -> list:
    """Compact UTF-8 JSON; raises TypeError for values JSON cannot represent."""
    return [json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")]


def decode_json(buf: Any) -> Any:
    text = _utf8(_byte_view(buf), "JSON")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:  # RecursionError: deeply nested arrays
        raise ProtocolError(f"bad JSON: {exc}") from None


# ---------------------------------------------------------------------------- tensors

# wire dtype code -> (name, little-endian numpy dtype of the bytes on the wire)
_DTYPES: dict[int, tuple[str, np.dtype]] = {
    1: ("bool", np.dtype("?")),
    2: ("uint8", np.dtype("u1")),
    3: ("int8", np.dtype("i1")),
    4: ("int16", np.dtype("<i2")),
    5: ("int32", np.dtype("<i4")),
    6: ("int64", np.dtype("<i8")),
    7: ("float16", np.dtype("<f2")),
    8: ("bfloat16", np.dtype("<i2")),  # numpy has no bfloat16: carried as its 16-bit pattern
    9: ("float32", np.dtype("<f4")),
    10: ("float64", np.dtype("<f8")),
    11: ("complex64", np.dtype("<c8")),
    12: ("complex128", np.dtype("<c16")),
}
_BF16 = 8
_WIRE = {code: dtype for code, (_, dtype) in _DTYPES.items()}
# numpy dtypes are matched by (kind, itemsize) so big-endian inputs map to the same code
_CODE_BY_NUMPY = {(dt.kind, dt.itemsize): code for code, dt in _WIRE.items() if code != _BF16}
_FLAG_TORCH = 1  # the tensor was sent as a torch.Tensor
_INLINE_MAX = 64  # data this small is copied next to its header: cheaper than one more buffer
_torch_codes: dict = {}  # torch dtype -> wire code, filled on first use of torch
_tensor_types: tuple[type, ...] = (np.ndarray,)  # torch.Tensor joins once torch is in use
_torch_module: Any = None
_NUMPY_TYPES = (np.ndarray, np.generic)


def _torch() -> Any:
    global _torch_module, _tensor_types
    if _torch_module is None:
        import torch  # imported lazily: keeps this module cheap for code without tensors

        _torch_codes.update({getattr(torch, name): code for code, (name, _) in _DTYPES.items()})
        _tensor_types = (np.ndarray, torch.Tensor)
        _torch_module = torch
    return _torch_module


def _is_tensor(obj: Any) -> bool:
    if isinstance(obj, _tensor_types):
        return True
    # torch may have been imported by someone else since; if it never was, obj is no tensor
    return _torch_module is None and "torch" in sys.modules and isinstance(obj, _torch().Tensor)


def _wire_array(t: Any) -> tuple[int, int, np.ndarray]:
    """(dtype code, flags, C-contiguous little-endian array sharing t's memory when possible)."""
    if isinstance(t, _NUMPY_TYPES):
        arr = np.asarray(t)
        code = _CODE_BY_NUMPY.get((arr.dtype.kind, arr.dtype.itemsize))
        flags = 0
    elif isinstance(t, _tensor_types) or _is_tensor(t):
        code = _torch_codes.get(t.dtype)
        if code == _BF16:
            t = t.view(_torch_module.int16)
        try:
            arr = t.numpy()
        except (RuntimeError, TypeError):  # requires grad, not on the CPU, or lazy conj/neg bit
            arr = t.detach().cpu().resolve_conj().resolve_neg().numpy()
        flags = _FLAG_TORCH
    else:
        raise TypeError(f"expected a numpy array or torch tensor, got {type(t).__name__}")
    if code is None:
        raise TypeError(f"unsupported tensor dtype {t.dtype}")
    wire = _WIRE[code]
    if not (arr.flags.c_contiguous and arr.dtype == wire):
        arr = np.asarray(arr, dtype=wire, order="C")  # unlike ascontiguousarray, keeps 0-d
    return code, flags, arr


_heads: dict[tuple[int, int], struct.Struct] = {}


def _head_struct(ndim: int, start: int) -> struct.Struct:
    """Tensor header packer: fixed fields, ndim dims, zero padding so the data is aligned."""
    key = (ndim, start % _ALIGN)
    packer = _heads.get(key)
    if packer is None:
        size = _TENSOR_HEAD.size + 8 * ndim
        packer = struct.Struct(f"<BBHiQ{ndim}Q{-(start + size) % _ALIGN}x")
        _heads[key] = packer
    return packer


def _data_view(arr: np.ndarray) -> memoryview:
    try:
        return arr.data.cast("B")
    except (TypeError, ValueError, NotImplementedError):  # a format memoryview cannot cast
        return memoryview(arr.reshape(-1).view(np.uint8))


def _tensor_parts(t: Any, prefix: bytes, pos: int) -> tuple[list, int]:
    """Buffers for ``prefix`` (at payload offset ``pos``) then one tensor block; and the end.

    The header and tiny data are merged into ``bytes``; bigger data is the tensor's own memory.
    """
    code, flags, arr = _wire_array(t)
    ndim, nbytes = arr.ndim, arr.nbytes
    if ndim > MAX_NDIM:
        raise ValueError(f"tensor has {ndim} dimensions, at most {MAX_NDIM} supported")
    start = pos + len(prefix)
    head = prefix + _head_struct(ndim, start).pack(code, flags, 0, ndim, nbytes, *arr.shape)
    end = pos + len(head) + nbytes
    if nbytes <= _INLINE_MAX:
        return [head + arr.tobytes()], end
    return [head, _data_view(arr)], end


def _tensor_list_parts(ts: Sequence[Any], prefix: bytes, pos: int) -> list:
    """Buffers for ``prefix``, a tensor count and the tensor blocks, in as few pieces as can be."""
    buffers = []
    prefix += _U32.pack(len(ts))
    for t in ts:
        parts, end = _tensor_parts(t, prefix, pos)
        # trailing small bytes become the next block's prefix: a sample goes out in few iovecs
        prefix = parts.pop() if type(parts[-1]) is bytes else b""
        pos = end - len(prefix)
        buffers += parts
    if prefix:
        buffers.append(prefix)
    return buffers


def _read_tensor(mv: memoryview, pos: int, as_torch: bool | None) -> tuple[Any, int]:
    """Decode the tensor block at ``pos``; returns (tensor, end offset).

    ``as_torch``: True -> torch.Tensor, False -> numpy (bfloat16 stays torch), None -> as sent.
    """
    size = len(mv)
    dims_pos = pos + _TENSOR_HEAD.size
    if dims_pos > size:
        raise _truncated("tensor header", dims_pos, size)
    code, flags, _, ndim, nbytes = _TENSOR_HEAD.unpack_from(mv, pos)
    dtype = _WIRE.get(code)
    if dtype is None:
        raise ProtocolError(f"unknown dtype code {code}")
    if flags > _FLAG_TORCH:
        raise ProtocolError(f"unknown tensor flags {flags:#04x}")
    if not 0 <= ndim <= MAX_NDIM:
        what = "negative tensor ndim" if ndim < 0 else "tensor ndim above the maximum of 64:"
        raise ProtocolError(f"{what} {ndim}")
    data_pos = dims_pos + 8 * ndim
    if data_pos > size:
        raise _truncated("tensor shape", data_pos, size)
    shape = _DIMS[ndim].unpack_from(mv, dims_pos)
    data_pos += -data_pos % _ALIGN
    count = math.prod(shape)
    if count * dtype.itemsize != nbytes:
        raise ProtocolError(
            f"{_DTYPES[code][0]} tensor of shape {shape} needs {count * dtype.itemsize} bytes, "
            f"header declares {nbytes}"
        )
    end = data_pos + nbytes
    if end > size:
        raise _truncated("tensor data", end, size)
    # non-empty: every dimension is at most the buffer size, so numpy accepts the shape
    arr = np.ndarray(shape, dtype, mv, data_pos) if count else _empty_array(shape, dtype)
    if as_torch is None:
        as_torch = flags == _FLAG_TORCH
    if not as_torch and code != _BF16:
        return arr, end
    torch = _torch_module or _torch()
    if not arr.flags.writeable:  # read-only input (bytes): torch tensors must be writable
        arr = arr.copy()
    tensor = torch.from_numpy(arr)
    return (tensor.view(torch.bfloat16) if code == _BF16 else tensor), end


def _empty_array(shape: tuple, dtype: np.dtype) -> np.ndarray:
    if any(d > _MAX_DIM for d in shape):
        raise ProtocolError(f"tensor shape {shape} has a dimension above 2**63-1")
    try:
        return np.empty(shape, dtype)
    except ValueError as exc:  # zero-size, but the other dimensions overflow numpy's sizes
        raise ProtocolError(f"bad tensor shape {shape}: {exc}") from None


def _read_tensor_list(mv: memoryview, pos: int, as_torch: bool | None) -> tuple[list, int]:
    if pos + _U32.size > len(mv):
        raise _truncated("tensor count", pos + _U32.size, len(mv))
    (count,) = _U32.unpack_from(mv, pos)
    pos += _U32.size
    if count * _TENSOR_HEAD.size > len(mv) - pos:
        raise ProtocolError(f"{count} tensors cannot fit in {len(mv) - pos} bytes")
    tensors = []
    for _ in range(count):
        tensor, pos = _read_tensor(mv, pos, as_torch)
        tensors.append(tensor)
    return tensors, pos


def encode_tensor(t: np.ndarray | torch.Tensor) -> list:
    """Header (dtype, shape, padding) plus the tensor's own buffer, not copied if contiguous."""
    return _tensor_parts(t, b"", 0)[0]


def decode_tensor(buf: Any, as_torch: bool | None = True) -> Any:
    """Zero-copy view into ``buf`` (if writable): torch by default, numpy if ``as_torch=False``.

    bfloat16 always decodes to torch (numpy has no bfloat16); ``as_torch=None`` keeps the kind
    the tensor was sent as.
    """
    mv = _byte_view(buf)
    tensor, end = _read_tensor(mv, 0, as_torch)
    _no_trailing(mv, end, "tensor")
    return tensor


def encode_tensors(ts: Sequence[np.ndarray | torch.Tensor]) -> list:
    """Several tensors in one payload (e.g. a dataset sample)."""
    return _tensor_list_parts(ts, b"", 0)


def decode_tensors(buf: Any, as_torch: bool | None = True) -> list:
    mv = _byte_view(buf)
    tensors, end = _read_tensor_list(mv, 0, as_torch)
    _no_trailing(mv, end, "tensors")
    return tensors


# ---------------------------------------------------------------------------- images

# bits per pixel in Image.tobytes() for the modes we carry
_IMAGE_BITS = {
    "1": 1,
    "L": 8,
    "P": 8,
    "LA": 16,
    "I;16": 16,
    "RGB": 24,
    "YCbCr": 24,
    "LAB": 24,
    "HSV": 24,
    "RGBA": 32,
    "CMYK": 32,
    "I": 32,
    "F": 32,
}
_MAX_EMPTY_SIDE = 1 << 16  # PIL allocates per row even for empty images: keep lies small


def encode_image(img: Image.Image) -> list:
    """Mode, size, palette (mode P, as RGB) and raw pixels; no compression."""
    if img.mode not in _IMAGE_BITS:
        raise ValueError(f"unsupported image mode {img.mode!r}")
    palette = bytes(img.getpalette("RGB") or ()) if img.mode == "P" else b""
    mode = img.mode.encode("ascii")
    head = bytes((len(mode),)) + mode + _IMAGE_HEAD.pack(*img.size, len(palette)) + palette
    return [head, img.tobytes()]


def decode_image(buf: Any) -> Image.Image:
    mv = _byte_view(buf)
    _need(mv, 1, "image header")
    pos = 1 + mv[0]
    _need(mv, pos + _IMAGE_HEAD.size, "image header")
    mode = _utf8(mv[1:pos], "image mode")
    bits = _IMAGE_BITS.get(mode)
    if bits is None:
        raise ProtocolError(f"unsupported image mode {mode!r}")
    width, height, palette_len = _IMAGE_HEAD.unpack_from(mv, pos)
    pos += _IMAGE_HEAD.size
    if palette_len and (mode != "P" or palette_len > 768 or palette_len % 3):
        raise ProtocolError(f"bad palette of {palette_len} bytes for mode {mode}")
    _need(mv, pos + palette_len, "image palette")
    palette = mv[pos : pos + palette_len]
    pixels = mv[pos + palette_len :]
    expected = (width * bits + 7) // 8 * height
    if len(pixels) != expected:
        raise ProtocolError(
            f"{mode} image of {width}x{height} needs {expected} pixel bytes, got {len(pixels)}"
        )
    if not expected and max(width, height) > _MAX_EMPTY_SIDE:
        raise ProtocolError(f"implausible empty image size {width}x{height}")
    from PIL import Image

    try:
        img = Image.frombytes(mode, (width, height), pixels)
        if palette:
            img.putpalette(bytes(palette), "RGB")
    except (ValueError, OverflowError, MemoryError) as exc:
        raise ProtocolError(f"bad {mode} image of {width}x{height}: {exc}") from None
    return img


def _is_image(obj: Any) -> bool:
    image = sys.modules.get("PIL.Image")  # if PIL was never imported, obj cannot be an image
    return image is not None and isinstance(obj, image.Image)


# ---------------------------------------------------------------------------- tagged values


class BytesPieces:
    """One bytes value given as pieces (any buffers), sent without joining them: each piece
    goes to the socket from its own memory. The peer receives plain ``bytes``."""

    __slots__ = ("pieces",)

    def __init__(self, pieces: Sequence[Any]) -> None:
        self.pieces = [_byte_view(piece) for piece in pieces]

    @property
    def nbytes(self) -> int:
        return sum(len(piece) for piece in self.pieces)

    def __bytes__(self) -> bytes:
        return b"".join(self.pieces)


(
    _T_NONE,
    _T_BOOL,
    _T_INT,
    _T_FLOAT,
    _T_STR,
    _T_BYTES,
    _T_JSON,
    _T_TENSOR,
    _T_TENSORS,
    _T_IMAGE,
    _T_LIST,
    _T_DICT,
) = range(12)
_TAG = [bytes((tag,)) for tag in range(12)]
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1
_MAX_DEPTH = 32  # nesting of list/dict values that hold tensors, images or bytes
_U16 = struct.Struct("<H")


def encode_value(obj: Any) -> list:
    """Tagged union (first byte = tag) for None, bool, int, float, str, bytes, JSON-able
    dict/list, one tensor, a list/tuple of tensors, or a PIL image.

    Ints outside int64 and tuples of plain values go as JSON (decoded as int / list). A
    dict (str keys) or list that holds tensors, images or bytes among other values is sent
    as a container of tagged values, so ``{"tensor": t, "size": [64, 48]}`` works too.
    """
    return _encode_value(obj, 0)


def _encode_value(obj: Any, depth: int) -> list:
    if obj is None:
        return [_TAG[_T_NONE]]
    if _is_tensor(obj):
        return _tensor_parts(obj, _TAG[_T_TENSOR], 0)[0]
    # _is_tensor() above registered torch.Tensor in _tensor_types if torch is in use
    if isinstance(obj, (list, tuple)) and obj and all(isinstance(t, _tensor_types) for t in obj):
        return _tensor_list_parts(obj, _TAG[_T_TENSORS], 0)
    if isinstance(obj, (np.bool_, np.integer, np.floating)):
        obj = obj.item()  # numpy scalars travel as the Python value they stand for
    if isinstance(obj, bool):
        return [bytes((_T_BOOL, obj))]
    if isinstance(obj, int) and _INT64_MIN <= obj <= _INT64_MAX:
        return [_TAG[_T_INT] + _I64.pack(obj)]
    if isinstance(obj, float):
        return [_TAG[_T_FLOAT] + _F64.pack(obj)]
    if isinstance(obj, str):
        return [_TAG[_T_STR], obj.encode("utf-8")]
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return [_TAG[_T_BYTES], obj]
    if isinstance(obj, BytesPieces):
        return [_TAG[_T_BYTES], *obj.pieces]
    if _is_image(obj):
        return [_TAG[_T_IMAGE], *encode_image(obj)]
    try:
        return [_TAG[_T_JSON], *encode_json(obj)]
    except TypeError:
        if not isinstance(obj, (dict, list, tuple)):
            raise
    return _container_parts(obj, depth)  # holds values JSON cannot carry


def _container_parts(obj: dict | list | tuple, depth: int) -> list:
    """[tag][u32 count] then per item: ([u16 n][n bytes key] for dicts) [u64 size] [padding]
    [tagged value]. Items start 16-byte aligned, so tensors inside them stay aligned."""
    if depth >= _MAX_DEPTH:
        raise ValueError(f"values nested deeper than {_MAX_DEPTH} levels")
    is_dict = isinstance(obj, dict)
    head = _TAG[_T_DICT if is_dict else _T_LIST] + _U32.pack(len(obj))
    buffers = []
    pos = 0
    for key, value in obj.items() if is_dict else ((None, v) for v in obj):
        if is_dict:
            if not isinstance(key, str):
                raise TypeError(f"dict keys must be str, got {type(key).__name__}")
            name = key.encode("utf-8")
            if len(name) > 0xFFFF:
                raise ValueError(f"dict key of {len(name)} bytes, at most 65535 allowed")
            head += _U16.pack(len(name)) + name
        parts = _encode_value(value, depth + 1)
        size = sum(memoryview(part).nbytes for part in parts)
        head += _U64.pack(size)
        head += bytes(-(pos + len(head)) % _ALIGN)
        buffers += [head, *parts]
        pos += len(head) + size
        head = b""
    return [*buffers, head] if head else buffers


def _read_container(
    mv: memoryview, is_dict: bool, as_torch: bool, depth: int, views_from: float
) -> Any:
    if depth >= _MAX_DEPTH:
        raise ProtocolError(f"values nested deeper than {_MAX_DEPTH} levels")
    _need(mv, 5, "container header")
    (count,) = _U32.unpack_from(mv, 1)
    pos = 5
    if count * 9 > len(mv) - pos:  # every item takes a size and at least a tag
        raise ProtocolError(f"{count} items cannot fit in {len(mv) - pos} bytes")
    items = []
    for _ in range(count):
        key = None
        if is_dict:
            _need(mv, pos + 2, "dict key")
            (n,) = _U16.unpack_from(mv, pos)
            _need(mv, pos + 2 + n, "dict key")
            key = _utf8(mv[pos + 2 : pos + 2 + n], "dict key")
            pos += 2 + n
        _need(mv, pos + 8, "item size")
        (size,) = _U64.unpack_from(mv, pos)
        pos += 8
        pos += -pos % _ALIGN
        _need(mv, pos + size, "item")
        item = _decode_value(mv[pos : pos + size], as_torch, depth + 1, views_from)
        items.append((key, item))
        pos += size
    _no_trailing(mv, pos, "container")
    return dict(items) if is_dict else [value for _, value in items]


def decode_value(buf: Any, as_torch: bool = True, bytes_views_from: int | None = None) -> Any:
    """Inverse of :func:`encode_value`.

    Tensors come back as they were sent (torch or numpy) and as zero-copy views of ``buf``;
    with ``as_torch=False`` every tensor is numpy, except bfloat16 which numpy cannot hold.
    Bytes come back as ``bytes``, tuples as lists; bytes of ``bytes_views_from`` or more
    come back as read-only memoryviews of ``buf`` instead (no copy: the app receives a
    resnet18's 135 MB checkpoint every epoch and only writes it to a file).
    """
    views_from = math.inf if bytes_views_from is None else bytes_views_from
    return _decode_value(_byte_view(buf), as_torch, 0, views_from)


def _decode_value(mv: memoryview, as_torch: bool, depth: int, views_from: float) -> Any:
    if not mv:
        raise ProtocolError("empty value payload: missing tag")
    tag = mv[0]
    if tag in (_T_TENSOR, _T_TENSORS):
        mode = None if as_torch else False
        read = _read_tensor if tag == _T_TENSOR else _read_tensor_list
        value, end = read(mv, 1, mode)
        _no_trailing(mv, end, "tensor value")
        return value
    body = mv[1:]
    if tag == _T_NONE:
        _no_trailing(mv, 1, "None")
        return None
    if tag == _T_BOOL:
        if len(body) != 1 or body[0] > 1:
            raise ProtocolError(f"bool value must be one byte 0 or 1, got {bytes(body[:8])!r}")
        return bool(body[0])
    if tag == _T_INT:
        return decode_int(body)
    if tag == _T_FLOAT:
        return decode_float(body)
    if tag == _T_STR:
        return decode_str(body)
    if tag == _T_BYTES:
        return body.toreadonly() if len(body) >= views_from else bytes(body)
    if tag == _T_JSON:
        return decode_json(body)
    if tag == _T_IMAGE:
        return decode_image(body)
    if tag in (_T_LIST, _T_DICT):
        return _read_container(mv, tag == _T_DICT, as_torch, depth, views_from)
    raise ProtocolError(f"unknown value tag {tag}")


# ---------------------------------------------------------------------------- I/O helpers


def _frame_buffers(msg_type: str, buffers: list) -> tuple[list, int]:
    """The frame header and non-empty payload buffers, ready for a scatter write; total size."""
    pieces: list = []
    size = 0
    for buf in buffers:
        if type(buf) is not bytes:
            buf = _byte_view(buf)  # so len() counts bytes and a partial write can slice it
        if len(buf):
            pieces.append(buf)
            size += len(buf)
    header = pack_frame_header(msg_type, size)
    if pieces and type(pieces[0]) is bytes:
        pieces[0] = header + pieces[0]  # small: one piece less for the kernel to gather
    else:
        pieces.insert(0, header)
    return pieces, size + len(header)


def _consume(pieces: list, sent: int) -> None:
    """Drop ``sent`` bytes from the front of ``pieces`` after a partial write."""
    done = 0
    while done < len(pieces) and sent >= len(pieces[done]):
        sent -= len(pieces[done])
        done += 1
    del pieces[:done]
    if sent:
        pieces[0] = memoryview(pieces[0])[sent:]


def _tune_socket(sock: socket.socket) -> None:
    # frames go out in one write each, so Nagle's algorithm would only add latency
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _native_entry_points() -> tuple[Any, Any]:
    """CPython's PyByteArray_Resize and libc's madvise, where available."""
    try:
        signature = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.py_object, ctypes.c_ssize_t)
        resize = signature(("PyByteArray_Resize", ctypes.pythonapi))
    except (AttributeError, OSError):  # not CPython
        return None, None
    try:
        madvise = ctypes.CDLL(None).madvise
        madvise.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    except (AttributeError, OSError, TypeError):  # no libc madvise (e.g. Windows)
        madvise = None
    return resize, madvise if hasattr(mmap, "MADV_HUGEPAGE") else None


_resize_bytearray, _madvise = _native_entry_points()
_HUGE_MIN = 4 << 20  # numpy's threshold for asking huge pages for an array


def _payload_buffer(size: int) -> bytearray:
    """A bytearray of ``size`` bytes that the receive will overwrite entirely.

    ``bytearray(size)`` zero-fills: for big payloads that costs as much as receiving them,
    and commits all the memory before the peer has sent any of it. Grown from empty through
    the C API instead, the bytes are left as they are and the OS maps pages in as data arrives.
    """
    if size < _DIRECT_MIN or _resize_bytearray is None:
        return bytearray(size)
    buf = bytearray()
    _resize_bytearray(buf, size)  # raises MemoryError if it cannot
    if _madvise is not None and size >= _HUGE_MIN:
        # as numpy does for big arrays: 2 MiB pages make first touching the memory much cheaper
        start = ctypes.addressof(ctypes.c_char.from_buffer(buf))
        first = -(-start // mmap.PAGESIZE) * mmap.PAGESIZE
        last = (start + size) // mmap.PAGESIZE * mmap.PAGESIZE
        if last > first:
            _madvise(first, last - first, mmap.MADV_HUGEPAGE)
    return buf


class _FrameReader:
    """Reassembles frames from received bytes, without doing any I/O itself.

    Callers loop: ``next_frame()``; if None, receive into ``target()`` and call
    ``advance(n)``. Small frames are cut out of a read-ahead buffer (one recv can bring
    many frames); large payload remainders are received straight into the payload.
    """

    def __init__(self, max_payload: int) -> None:
        self.max_payload = max_payload
        self._buf = bytearray(_READAHEAD)
        self._view = memoryview(self._buf)
        self._start = self._end = 0  # unread bytes are _buf[_start:_end]
        self._msg_type = ""
        self._payload: bytearray | None = None  # frame being filled, if any
        self._filled = 0
        self._direct = False  # last target() was the payload itself

    def next_frame(self) -> tuple[str, bytearray] | None:
        start, end = self._start, self._end
        if self._payload is None:
            if start == end or end - start < 9 + self._buf[start]:
                return None
            msg_type, size, header_len = parse_frame_header(self._view[start:end], self.max_payload)
            start += header_len
            if size <= end - start:  # all buffered already (small frames): a single copy
                self._consumed(start + size)
                return msg_type, bytearray(self._view[start : start + size])
            try:
                self._payload = _payload_buffer(size)  # size was checked against the limit
            except MemoryError:
                raise ProtocolError(
                    f"cannot allocate {size} bytes for frame {msg_type!r}"
                ) from None
            self._msg_type = msg_type
            self._filled = 0
        payload = self._payload
        take = min(len(payload) - self._filled, end - start)
        payload[self._filled : self._filled + take] = self._view[start : start + take]
        self._filled += take
        self._consumed(start + take)
        if self._filled < len(payload):
            return None
        self._payload = None
        return self._msg_type, payload

    def _consumed(self, start: int) -> None:
        if start == self._end:
            start = self._end = 0  # empty: the next receive gets the whole buffer
        self._start = start

    def target(self) -> memoryview:
        """Where the next receive should write (call after next_frame() returned None)."""
        if self._payload is not None and len(self._payload) - self._filled >= _DIRECT_MIN:
            self._direct = True
            return memoryview(self._payload)[self._filled :]
        self._direct = False
        if self._start and len(self._buf) - self._start < _MAX_HEADER:
            # a partial header sits at the very end: move it to the front so it can complete
            keep = self._end - self._start
            self._buf[:keep] = self._buf[self._start : self._end]
            self._start, self._end = 0, keep
        return self._view[self._end :]

    def advance(self, n: int) -> None:
        if self._direct:
            self._filled += n
        else:
            self._end += n

    def closed(self) -> ConnectionClosed:
        return ConnectionClosed(mid_frame=self._payload is not None or self._end > self._start)


# ---------------------------------------------------------------------------- blocking API


class Connection:
    """Blocking frame connection over a connected socket (used by workers).

    Sends are serialized by a lock (a training thread may report progress), and so are
    receives. After a ProtocolError from the framing layer the stream is out of sync and the
    connection should be closed; one from :meth:`recv`'s value decoding leaves it usable.
    """

    def __init__(self, sock: socket.socket, max_payload: int = DEFAULT_MAX_PAYLOAD) -> None:
        self._sock = sock
        self._reader = _FrameReader(max_payload)
        self._send_lock = threading.Lock()
        self._recv_lock = threading.Lock()
        _tune_socket(sock)

    @classmethod
    def connect(cls, address: str, port: int, timeout: float | None = None) -> Connection:
        """Connect over TCP; ``timeout`` bounds connecting only, later I/O blocks."""
        sock = socket.create_connection((address, port), timeout=timeout)
        sock.settimeout(None)
        return cls(sock)

    @property
    def sock(self) -> socket.socket:
        """The underlying socket (e.g. to set a timeout)."""
        return self._sock

    @property
    def max_payload(self) -> int:
        """Largest payload accepted; lower it while the peer is not yet trusted."""
        return self._reader.max_payload

    @max_payload.setter
    def max_payload(self, value: int) -> None:
        self._reader.max_payload = value

    def send_frame(self, msg_type: str, buffers: list) -> None:
        pieces, total = _frame_buffers(msg_type, buffers)
        left = total
        with self._send_lock:
            try:
                if not _HAS_SENDMSG:
                    for piece in pieces:
                        self._sock.sendall(piece)
                        left -= len(piece)
                    return
                while True:
                    sent = self._sock.sendmsg(pieces[:_IOV_MAX])
                    left -= sent
                    if not left:
                        return
                    _consume(pieces, sent)
            except (BrokenPipeError, ConnectionResetError):
                raise ConnectionClosed(mid_frame=0 < left < total) from None

    def recv_frame(self) -> tuple[str, bytearray]:
        reader = self._reader
        with self._recv_lock:
            while (frame := reader.next_frame()) is None:
                try:
                    n = self._sock.recv_into(reader.target())
                except ConnectionResetError:
                    raise reader.closed() from None
                if not n:
                    raise reader.closed()
                reader.advance(n)
        return frame

    def send(self, msg_type: str, value: Any = None) -> None:
        self.send_frame(msg_type, encode_value(value))

    def recv(self, as_torch: bool = True) -> tuple[str, Any]:
        msg_type, payload = self.recv_frame()
        return msg_type, decode_value(payload, as_torch)

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---------------------------------------------------------------------------- asyncio API


async def _wait_writable(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
    fut = loop.create_future()

    def wake() -> None:
        if not fut.done():
            fut.set_result(None)

    loop.add_writer(sock.fileno(), wake)
    try:
        await fut
    finally:
        loop.remove_writer(sock.fileno())


class AsyncConnection:
    """asyncio frame connection over a connected socket (used by the app).

    Same format and semantics as :class:`Connection`; the socket is made non-blocking.
    """

    def __init__(self, sock: socket.socket, max_payload: int = DEFAULT_MAX_PAYLOAD) -> None:
        sock.setblocking(False)
        self._sock = sock
        self._reader = _FrameReader(max_payload)
        self._send_lock = asyncio.Lock()
        self._recv_lock = asyncio.Lock()
        _tune_socket(sock)

    @classmethod
    async def connect(cls, address: str, port: int) -> AsyncConnection:
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(address, port, type=socket.SOCK_STREAM)
        error: OSError = OSError(f"cannot resolve {address}:{port}")
        for family, type_, proto, _, addr in infos:
            sock = socket.socket(family, type_, proto)
            try:
                sock.setblocking(False)
                await loop.sock_connect(sock, addr)
                return cls(sock)
            except OSError as exc:
                sock.close()
                error = exc
        raise error

    @property
    def sock(self) -> socket.socket:
        """The underlying socket (e.g. to set a timeout)."""
        return self._sock

    @property
    def max_payload(self) -> int:
        """Largest payload accepted; lower it while the peer is not yet trusted."""
        return self._reader.max_payload

    @max_payload.setter
    def max_payload(self, value: int) -> None:
        self._reader.max_payload = value

    async def send_frame(self, msg_type: str, buffers: list) -> None:
        loop = asyncio.get_running_loop()
        pieces, total = _frame_buffers(msg_type, buffers)
        left = total
        async with self._send_lock:
            try:
                if not _HAS_SENDMSG:
                    for piece in pieces:
                        await loop.sock_sendall(self._sock, piece)
                        left -= len(piece)
                    return
                while True:
                    try:
                        sent = self._sock.sendmsg(pieces[:_IOV_MAX])
                    except (BlockingIOError, InterruptedError):  # socket buffer full: wait
                        await _wait_writable(loop, self._sock)
                        continue
                    left -= sent
                    if not left:
                        return
                    _consume(pieces, sent)
            except (BrokenPipeError, ConnectionResetError):
                raise ConnectionClosed(mid_frame=0 < left < total) from None

    async def recv_frame(self) -> tuple[str, bytearray]:
        loop = asyncio.get_running_loop()
        reader = self._reader
        async with self._recv_lock:
            while (frame := reader.next_frame()) is None:
                try:
                    n = await loop.sock_recv_into(self._sock, reader.target())
                except ConnectionResetError:
                    raise reader.closed() from None
                if not n:
                    raise reader.closed()
                reader.advance(n)
        return frame

    async def send(self, msg_type: str, value: Any = None) -> None:
        await self.send_frame(msg_type, encode_value(value))

    async def recv(
        self, as_torch: bool = True, bytes_views_from: int | None = None
    ) -> tuple[str, Any]:
        msg_type, payload = await self.recv_frame()
        return msg_type, decode_value(payload, as_torch, bytes_views_from)

    def close(self) -> None:
        self._sock.close()

    async def __aenter__(self) -> AsyncConnection:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()
