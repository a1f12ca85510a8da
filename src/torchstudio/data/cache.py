"""The columnar on-disk dataset cache: materialise once, memory-map many times.

An entry is a folder named by the dataset's content key, holding one data file per
(split, tensor position) — every sample's bytes back to back — a shapes file for
positions whose shape varies, and `meta.json` with dtypes, shapes, sizes and a CRC-32 of
every file. Entries are written to a temporary folder and renamed into place, so a
reader never sees half an entry; a truncated or corrupt file fails verification and the
entry is rebuilt, never trusted. A disk that fills up while an entry is written gives a
`CacheError` naming the file; the half-written entry is removed and every existing entry
(an older one of the same key included) stays as it was.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import tempfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from torchstudio.data.collate import collate_columns
from torchstudio.data.samples import SampleError, check_structure, sample_structure

FORMAT_VERSION = 1
META_FILE = "meta.json"
FINGERPRINT_SAMPLES = 16
Progress = Callable[[float, str], None]
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


class CacheError(Exception):
    """A cache entry that is missing, incomplete or corrupt, or one the disk has no room for."""


def _naming(exc: OSError, path: str) -> OSError:
    """The same error with the file it was about (a failed write() does not say)."""
    if exc.filename is not None:
        return exc
    return OSError(exc.errno, exc.strerror, path)


def default_cache_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "torchstudio", "datasets")


def content_key(code: str, settings: dict[str, Any], splits: dict[str, Sequence[Any]]) -> str:
    """A key for the dataset's content: its code, settings, sizes and a sample fingerprint.

    The fingerprint hashes up to 16 evenly spaced samples of each split (first and last
    included), so edited data files are noticed without reading the whole dataset first.
    """
    digest = hashlib.sha256()
    digest.update(f"torchstudio-cache-{FORMAT_VERSION}\n".encode())
    digest.update(code.encode())
    digest.update(json.dumps(settings, sort_keys=True).encode())
    for name, split in sorted(splits.items()):
        count = len(split)
        digest.update(f"{name}:{count}\n".encode())
        if count:
            for index in np.unique(np.linspace(0, count - 1, FINGERPRINT_SAMPLES).astype(int)):
                for array in split[int(index)]:
                    digest.update(f"{array.dtype}{array.shape}".encode())
                    digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:32]


@dataclass
class _ColumnWriter:
    """Appends one tensor position's samples to its data file, with a running CRC."""

    path: str
    ndim: int
    count: int

    def __post_init__(self) -> None:
        self.file = open(self.path, "wb", buffering=4 * 1024 * 1024)  # noqa: SIM115
        self.crc = 0
        self.size = 0
        self.shapes = np.zeros((self.count, self.ndim), dtype=np.int64)

    def _write(self, view: memoryview) -> None:
        try:
            self.file.write(view)
        except OSError as exc:
            raise _naming(exc, self.path) from exc

    def append(self, index: int, array: np.ndarray) -> None:
        data = np.ascontiguousarray(array)
        self.shapes[index] = data.shape
        view = memoryview(data).cast("B")
        self._write(view)
        self.crc = zlib.crc32(view, self.crc)
        self.size += data.nbytes

    def append_batch(self, start: int, batch: np.ndarray) -> None:
        data = np.ascontiguousarray(batch)
        self.shapes[start : start + len(data)] = data.shape[1:]
        view = memoryview(data).cast("B")
        self._write(view)
        self.crc = zlib.crc32(view, self.crc)
        self.size += data.nbytes

    def finish(self, folder: str, prefix: str, dtype: str) -> dict[str, Any]:
        try:
            self.file.close()  # flushes the buffer: the last write may find the disk full
        except OSError as exc:
            raise _naming(exc, self.path) from exc
        files = {os.path.basename(self.path): {"bytes": self.size, "crc32": self.crc}}
        column: dict[str, Any] = {
            "dtype": dtype,
            "ndim": self.ndim,
            "data": os.path.basename(self.path),
        }
        if self.count and (self.shapes == self.shapes[0]).all():
            column["shape"] = self.shapes[0].tolist()
        else:
            shapes_name = f"{prefix}.shapes"
            shapes_bytes = self.shapes.tobytes()
            shapes_path = os.path.join(folder, shapes_name)
            try:
                with open(shapes_path, "wb") as shapes_file:
                    shapes_file.write(shapes_bytes)
            except OSError as exc:
                raise _naming(exc, shapes_path) from exc
            files[shapes_name] = {"bytes": len(shapes_bytes), "crc32": zlib.crc32(shapes_bytes)}
            column["shape"] = None
            column["shapes"] = shapes_name
        return {"column": column, "files": files}


def _batched_columns(split: Any) -> Callable[[np.ndarray], list[np.ndarray]] | None:
    """A fast path for in-memory tensor datasets: gather whole columns by fancy indexing.

    Applies when every source of the split is a `TensorDataset`-like object (a `tensors`
    attribute of equal-length tensors or arrays), which is what most in-memory datasets are.
    """
    sources = getattr(split, "sources", None)
    if not sources or not all(
        isinstance(getattr(source, "tensors", None), tuple | list) for source in sources
    ):
        return None

    def gather(indices: np.ndarray) -> list[np.ndarray]:
        columns: list[np.ndarray] | None = None
        for source_id in np.unique(indices[:, 0]):
            mask = indices[:, 0] == source_id
            positions = torch.as_tensor(indices[mask, 1])
            parts = [np.asarray(t[positions]) for t in sources[int(source_id)].tensors]
            if columns is None:
                columns = [np.empty((len(indices), *p.shape[1:]), p.dtype) for p in parts]
            for column, part in zip(columns, parts, strict=True):
                column[mask] = part
        return columns or []

    return gather


def _gather_matches(
    gather: Callable[[np.ndarray], list[np.ndarray]], split: Any, structure: Any
) -> bool:
    """The fast path must give exactly what the per-sample conversion gives."""
    try:
        columns = gather(split.indices[:1])
    except (TypeError, ValueError, RuntimeError, IndexError):
        return False
    return len(columns) == len(structure) and all(
        str(c.dtype) == s.dtype and c.ndim - 1 == s.ndim
        for c, s in zip(columns, structure, strict=True)
    )


def _collate_chunk(split: Any, start: int, stop: int, structure: Any) -> list[np.ndarray] | None:
    """Samples start..stop stacked per tensor position, when they convert column-wise."""
    raw_range = getattr(split, "raw_range", None)
    if raw_range is None:
        return None
    columns = collate_columns(raw_range(start, stop))
    if columns is None or len(columns) != len(structure):
        return None
    for column, spec in zip(columns, structure, strict=True):
        if str(column.dtype) != spec.dtype or column.ndim - 1 != spec.ndim:
            return None
    return columns


def materialise(
    splits: dict[str, Any],
    key: str,
    cache_dir: str,
    progress: Progress | None = None,
    classes: Sequence[str] = (),
    padding: dict[str, Any] | None = None,
) -> CacheEntry:
    """Write every sample of every split into a new cache entry and return it opened.

    `padding` (see torchstudio.data.settings.Padding) is kept for the batches made from it.
    """
    try:
        os.makedirs(cache_dir, exist_ok=True)
        temporary = tempfile.mkdtemp(prefix=f".{key}-", dir=cache_dir)
    except OSError as exc:
        if exc.errno not in _NO_SPACE:
            raise
        raise _disk_full(exc, cache_dir) from exc
    try:
        meta: dict[str, Any] = {"version": FORMAT_VERSION, "key": key, "classes": list(classes)}
        meta["padding"] = padding
        meta["splits"], meta["files"] = {}, {}
        total = sum(len(split) for split in splits.values()) or 1
        done = 0
        for name, split in splits.items():
            columns, files = _write_split(name, split, temporary, progress, done, total)
            done += len(split)
            meta["splits"][name] = {"count": len(split), "columns": columns}
            meta["files"].update(files)
        meta_path = os.path.join(temporary, META_FILE)
        try:
            with open(meta_path, "w") as meta_file:
                json.dump(meta, meta_file)
        except OSError as exc:
            raise _naming(exc, meta_path) from exc
        final = os.path.join(cache_dir, key)
        # Only now, with the new entry complete, may an older one of the same key go.
        if os.path.exists(final):
            shutil.rmtree(final)
        os.replace(temporary, final)
    except OSError as exc:
        shutil.rmtree(temporary, ignore_errors=True)
        if exc.errno not in _NO_SPACE:
            raise
        raise _disk_full(exc, cache_dir) from exc
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    return CacheEntry.open(final, verify=False)


def _disk_full(exc: OSError, cache_dir: str) -> CacheError:
    return CacheError(
        f"the disk is full: cannot write the dataset cache file {exc.filename or cache_dir} "
        f"({exc.strerror}); nothing was cached and the existing cache entries are "
        f"untouched. Free some space in {cache_dir} (or set another cache folder) "
        "and load the dataset again"
    )


def _write_split(
    name: str, split: Any, folder: str, progress: Progress | None, done: int, total: int
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    count = len(split)
    if count == 0:
        return [], {}
    first = split[0]
    structure = sample_structure(first)
    writers = [
        _ColumnWriter(os.path.join(folder, f"{name}_{position}.bin"), array.ndim, count)
        for position, array in enumerate(first)
    ]
    gather = _batched_columns(split)
    if gather is not None and not _gather_matches(gather, split, structure):
        gather = None
    step = 4096
    for start in range(0, count, step):
        stop = min(start + step, count)
        columns = gather(split.indices[start:stop]) if gather is not None else None
        if columns is None:
            columns = _collate_chunk(split, start, stop, structure)
        if columns is not None:
            for writer, column in zip(writers, columns, strict=True):
                writer.append_batch(start, column)
        else:
            for index in range(start, stop):
                arrays = split[index]
                check_structure(structure, arrays, index)
                for writer, array in zip(writers, arrays, strict=True):
                    writer.append(index, array)
        if progress is not None:
            progress((done + stop) / total, f"caching {name} samples: {stop}/{count}")
    columns, files = [], {}
    for position, (writer, spec) in enumerate(zip(writers, structure, strict=True)):
        result = writer.finish(folder, f"{name}_{position}", spec.dtype)
        columns.append(result["column"])
        files.update(result["files"])
    return columns, files


def verify_files(folder: str, files: dict[str, Any], check_crc: bool = True) -> None:
    """Raise CacheError when a file is missing, has the wrong size or the wrong CRC."""
    for name, expected in files.items():
        path = os.path.join(folder, name)
        try:
            size = os.path.getsize(path)
        except OSError as exc:
            raise CacheError(f"cache file {path} is missing") from exc
        if size != expected["bytes"]:
            raise CacheError(f"cache file {path} has {size} bytes, expected {expected['bytes']}")
        if check_crc and file_crc32(path) != expected["crc32"]:
            raise CacheError(f"cache file {path} is corrupt (checksum mismatch)")


def file_crc32(path: str, chunk: int = 16 * 1024 * 1024) -> int:
    crc = 0
    buffer = bytearray(chunk)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as file:
        while read := file.readinto(buffer):
            crc = zlib.crc32(view[:read], crc)
    return crc


class CachedSplit:
    """One split of a cache entry, memory-mapped: samples and batches as torch tensors."""

    def __init__(
        self, folder: str, info: dict[str, Any], padding: dict[str, Any] | None = None
    ) -> None:
        self.count: int = info["count"]
        self.padding = padding  # how batches of it pad (torchstudio.data.settings.Padding)
        self.columns: list[np.ndarray | tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        for column in info["columns"]:
            self.columns.append(_map_column(folder, column, self.count))

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> tuple[torch.Tensor, ...]:
        return tuple(torch.from_numpy(array) for array in self.arrays(index))

    def arrays(self, index: int) -> tuple[np.ndarray, ...]:
        """One sample as numpy arrays (views of the mapped files)."""
        if not -self.count <= index < self.count:
            raise IndexError(f"sample {index} is out of range (this split has {self.count})")
        return tuple(_sample(column, index) for column in self.columns)

    def batch(self, indices: Sequence[int] | np.ndarray) -> tuple[Any, ...]:
        """Tensors for several samples: stacked where shapes are fixed, lists where they vary."""
        picked = np.asarray(indices, dtype=np.int64)
        result: list[Any] = []
        for column in self.columns:
            if isinstance(column, np.ndarray):
                result.append(torch.from_numpy(column[picked]))
            else:
                result.append([torch.from_numpy(_sample(column, int(i))) for i in picked])
        return tuple(result)

    @property
    def fixed_shapes(self) -> bool:
        return all(isinstance(column, np.ndarray) for column in self.columns)


def _map_column(folder: str, column: dict[str, Any], count: int) -> Any:
    dtype = np.dtype(column["dtype"])
    path = os.path.join(folder, column["data"])
    size = os.path.getsize(path)
    # Copy-on-write mapping: tensors are writable for torch, and the file never changes.
    flat = (
        np.memmap(path, dtype=dtype, mode="c", shape=(size // dtype.itemsize,))
        if size
        else np.empty(0, dtype)
    )
    if column.get("shape") is not None:
        return flat.reshape(count, *column["shape"])
    shapes = np.fromfile(os.path.join(folder, column["shapes"]), dtype=np.int64).reshape(count, -1)
    sizes = np.prod(shapes, axis=1) if shapes.shape[1] else np.ones(count, np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    return flat, shapes, offsets


def _sample(column: Any, index: int) -> np.ndarray:
    if isinstance(column, np.ndarray):
        return column[index, ...]  # `...` keeps 0-d samples arrays, not numpy scalars
    flat, shapes, offsets = column
    return flat[offsets[index] : offsets[index + 1]].reshape(shapes[index])


@dataclass
class CacheEntry:
    """An opened cache entry: its folder, metadata and memory-mapped splits."""

    folder: str
    meta: dict[str, Any]

    @classmethod
    def open(cls, folder: str, verify: bool = True) -> CacheEntry:
        """Open an entry, checking every file's size (and CRC when `verify`)."""
        meta_path = os.path.join(folder, META_FILE)
        try:
            with open(meta_path) as meta_file:
                meta = json.load(meta_file)
        except (OSError, ValueError) as exc:
            raise CacheError(f"cache entry {folder} has no readable {META_FILE}") from exc
        if meta.get("version") != FORMAT_VERSION:
            raise CacheError(f"cache entry {folder} has format {meta.get('version')}")
        verify_files(folder, meta["files"], check_crc=verify)
        return cls(folder, meta)

    @property
    def key(self) -> str:
        return self.meta["key"]

    def split(self, name: str) -> CachedSplit:
        return CachedSplit(self.folder, self.meta["splits"][name], self.meta.get("padding"))

    @property
    def split_names(self) -> list[str]:
        return list(self.meta["splits"])


def open_or_build(
    splits: dict[str, Any],
    key: str,
    cache_dir: str,
    progress: Progress | None = None,
    classes: Sequence[str] = (),
    padding: dict[str, Any] | None = None,
) -> tuple[CacheEntry, bool]:
    """Return (entry, built): reuse a verified entry for `key`, or (re)build it."""
    folder = os.path.join(cache_dir, key)
    if os.path.isdir(folder):
        try:
            return CacheEntry.open(folder, verify=True), False
        except CacheError:
            shutil.rmtree(folder, ignore_errors=True)
    return materialise(splits, key, cache_dir, progress, classes, padding), True


__all__ = [
    "CacheEntry",
    "CacheError",
    "CachedSplit",
    "SampleError",
    "content_key",
    "default_cache_dir",
    "materialise",
    "open_or_build",
]
