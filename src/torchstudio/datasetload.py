"""Dataset loading worker: runs the dataset code, wraps it, serves samples and hands it off.

Messages (see `torchstudio.worker` for the conventions):
- `load` {"code", "workdir"?, "settings"?} -> the dataset report (counts, classes,
  tensors, suggestions, the hand-off link). The code defines `train` and optionally `valid`.
- `configure` {"settings"} -> a new report, re-splitting without running the code again.
- `sample` {"split": "train"|"valid", "index"} -> the sample's tensors (numpy arrays).
- `cache` {} -> builds (or reuses) the columnar cache now; other workers then get it at once.
- `link` {} -> {"address", "port", "token"} of the data server other workers fetch from.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from torchstudio.data.cache import CacheEntry, content_key, default_cache_dir, open_or_build
from torchstudio.data.downloads import download_help
from torchstudio.data.handoff import DataServer
from torchstudio.data.labels import (
    classes_from_labels,
    dataset_labels,
    label_position,
    missing_classes_warning,
)
from torchstudio.data.padding import varying_tensors
from torchstudio.data.samples import SampleError, check_structure, flatten_sample, sample_structure
from torchstudio.data.split import DatasetSettings, MetaSplit, make_splits
from torchstudio.data.suggest import suggest_all
from torchstudio.modules import format_user_error, safe_exec
from torchstudio.worker import Handlers, UserError, WorkerContext, run_worker


class DatasetError(UserError):
    """The dataset code or its samples cannot be used; the message is for the user."""


@dataclass
class LoadedDataset:
    """A dataset as the worker holds it: the user's objects and the meta-dataset over them."""

    code: str
    train: Any
    valid: Any | None
    settings: DatasetSettings
    splits: dict[str, MetaSplit] = field(default_factory=dict)
    # Class labels per sample of `train` and `valid` (None: not classes, or too costly).
    labels: dict[str, np.ndarray | None] = field(default_factory=dict)
    progress: Callable[[float, str], None] | None = None  # the load's progress, if any

    def __post_init__(self) -> None:
        self.resplit(self.settings)

    def resplit(self, settings: DatasetSettings) -> None:
        if self.valid is None and settings.split == "stratified":
            self._read_labels()
        training, validation = make_splits(
            self.train, self.valid, settings, self.labels.get("train")
        )
        self.settings = settings
        self.splits = {"train": training, "valid": validation}

    def _read_labels(self) -> None:
        if self.labels or not len(self.train):
            return
        try:
            first = flatten_sample(self.train[0], 0)
        except Exception as exc:
            raise DatasetError(format_user_error(exc, "dataset code")) from exc
        position = label_position(first)
        for name, dataset in (("train", self.train), ("valid", self.valid)):
            if position is None or dataset is None:
                self.labels[name] = None
                continue

            def told(done: int, count: int, name: str = name) -> None:
                if self.progress is not None:
                    self.progress(0.5 * done / count, f"reading the class labels of `{name}`: "
                                  f"{done}/{count} samples")  # fmt: skip

            try:
                self.labels[name] = dataset_labels(dataset, position, progress=told)
            except SampleError as exc:
                raise DatasetError(str(exc)) from exc
            except Exception as exc:
                raise DatasetError(format_user_error(exc, "dataset code")) from exc

    def split_labels(self, name: str) -> np.ndarray | None:
        """The class labels of split `name`'s samples, in its order (None when unknown)."""
        self._read_labels()
        sources = (self.labels.get("train"), self.labels.get("valid"))
        indices = self.splits[name].indices
        if any(sources[s] is None for s in set(indices[:, 0].tolist())):
            return None
        if not len(indices):
            return np.zeros(0, np.int64)
        return np.asarray(
            [sources[source][position] for source, position in indices.tolist()], np.int64
        )

    @property
    def classes(self) -> list[str]:
        classes = getattr(self.train, "classes", None)
        if classes is not None:
            return [str(c) for c in classes]
        self._read_labels()
        return classes_from_labels(self.labels.get("train"))

    def warnings(self) -> list[str]:
        """What the user should know about the split (validation lacking classes)."""
        warning = missing_classes_warning(
            self.split_labels("train"), self.split_labels("valid"), self.classes
        )
        return [warning] if warning else []

    def key(self) -> str:
        return content_key(self.code, self.settings.to_json(), self.splits)


@contextlib.contextmanager
def working_directory(path: str | None) -> Iterator[None]:
    """Run user code from its project folder, able to import the files beside it."""
    if not path:
        yield
        return
    if not os.path.isdir(path):
        raise DatasetError(f"working directory {path} does not exist")
    previous = os.getcwd()
    os.chdir(path)
    sys.path.insert(0, path)
    try:
        yield
    finally:
        os.chdir(previous)
        with contextlib.suppress(ValueError):
            sys.path.remove(path)


def run_dataset_code(code: str, workdir: str | None = None) -> tuple[Any, Any | None]:
    """Execute a dataset chunk; returns its `train` and `valid` (or None) datasets."""
    with working_directory(workdir):
        result = safe_exec(code, description="dataset code")
    if not result.ok:
        help_text = download_help(result.exception)
        raise DatasetError(f"{help_text}\n\n{result.error}" if help_text else result.error)
    train = result.namespace.get("train")
    if train is None:
        raise DatasetError("the dataset code must define `train` (and may define `valid`)")
    valid = result.namespace.get("valid")
    for name, dataset in (("train", train), ("valid", valid)):
        if dataset is None:
            continue
        if not hasattr(dataset, "__getitem__") or not hasattr(dataset, "__len__"):
            raise DatasetError(
                f"`{name}` is a {type(dataset).__name__}; expected a dataset "
                "(an object with __len__ and __getitem__)"
            )
    return train, valid


def first_sample_report(loaded: LoadedDataset) -> dict[str, Any]:
    """Counts, classes, the first sample's tensors and the suggestions derived from them."""
    training, validation = loaded.splits["train"], loaded.splits["valid"]
    probe = training if len(training) else validation
    if not len(probe):
        raise DatasetError(
            "the dataset has no samples: `train` (and `valid`, if defined) are empty after "
            "the split and usage ratio; expected at least one sample"
        )
    try:
        check_padding(probe)
        first = probe[0]
        if len(training) and len(validation):
            names = ("the first validation sample", "the first training sample")
            check_structure(sample_structure(first), validation[0], 0, names)
    except SampleError as exc:
        raise DatasetError(str(exc)) from exc
    except Exception as exc:
        raise DatasetError(format_user_error(exc, "dataset code")) from exc
    suggestions = suggest_all(first)
    roles = loaded.settings.roles or suggestions["roles"]
    if len(roles) != len(first):
        raise DatasetError(
            f"{len(roles)} tensor roles are set but the samples have {len(first)} tensors"
        )
    varying = varying_report(loaded)
    suggestions = {
        **suggestions,
        **dataset_suggestions(loaded.train, varying, suggestions["renderers"]),
    }
    return {
        "train_count": len(training),
        "valid_count": len(validation),
        "classes": loaded.classes,
        "warnings": loaded.warnings(),
        "varying": varying,
        "tensors": [{"shape": list(a.shape), "dtype": str(a.dtype)} for a in first],
        "roles": roles,
        "suggestions": suggestions,
        "settings": loaded.settings.to_json(),
    }


def dataset_suggestions(
    train: Any, varying: list[dict[str, Any]], renderers: list[str]
) -> dict[str, Any]:
    """What the dataset itself tells: the first tensor's renderer with values for a table
    row (its `feature_names`) or tokens (its `vocabulary`), and padding for a tensor that
    varies along one dimension (with a lengths tensor beside it)."""
    extra: dict[str, Any] = {}
    for attribute, renderer, parameter in (
        ("feature_names", "TableRow", "names"),
        ("vocabulary", "TokenText", "vocabulary"),
    ):
        names = getattr(train, attribute, None)
        if isinstance(names, list | tuple) and names and renderers:
            values: list[dict[str, str]] = [{} for _ in renderers]
            values[0] = {parameter: repr([str(name) for name in names])}
            extra["renderers"] = [renderer, *renderers[1:]]
            extra["renderer_values"] = values
    model = suggested_model(train)
    if model:
        extra["model"] = model
    single = [entry for entry in varying if len(entry["dims"]) == 1]
    if single:
        extra["padding"] = {
            "tensor": single[0]["tensor"],
            "dim": single[0]["dims"][0],
            "extra": "lengths",
        }
    return extra


def suggested_model(train: Any) -> dict[str, Any] | None:
    """A small built-in model that fits a Table (TabularMLP) or TextClassification (TextBag)
    dataset: {"name", "values"} (parameter texts), or None."""
    classes = getattr(train, "classes", None)
    names = getattr(train, "feature_names", None)
    if isinstance(names, list) and names:
        regression = getattr(train, "task", None) == "regression"
        outputs = 1 if regression or not classes else len(classes)
        return {
            "name": "TabularMLP",
            "values": {"inputs": str(len(names)), "outputs": str(outputs)},
        }
    vocabulary = getattr(train, "vocabulary", None)
    if isinstance(vocabulary, list) and vocabulary and classes:
        values = {"vocabulary": str(len(vocabulary)), "num_classes": str(len(classes))}
        return {"name": "TextBag", "values": values}
    return None


def check_padding(split: MetaSplit) -> None:
    """A DatasetError when the padding names a tensor or dimension the samples lack."""
    padding = split.padding
    if padding is None:
        return
    arrays = flatten_sample(split.raw(0), 0)
    if padding.tensor >= len(arrays):
        raise DatasetError(
            f"the padding names tensor {padding.tensor} but the samples have {len(arrays)} "
            f"tensors (0 to {len(arrays) - 1})"
        )
    shape = list(arrays[padding.tensor].shape)
    if padding.dim >= len(shape):
        raise DatasetError(
            f"the padding of tensor {padding.tensor} is along dim {padding.dim}, but the "
            f"tensor has {len(shape)} dimensions (shape {shape})"
        )


def varying_report(loaded: LoadedDataset) -> list[dict[str, Any]]:
    """The tensors whose shape varies between samples (both splits scanned), with the
    smallest and largest shapes seen; a padding that names no such tensor is refused."""
    merged: dict[int, dict[str, Any]] = {}
    try:
        for split in loaded.splits.values():
            for entry in varying_tensors(lambda index, s=split: s[index], len(split)):
                known = merged.setdefault(entry["tensor"], entry)
                known["min"] = [min(a, b) for a, b in zip(known["min"], entry["min"], strict=True)]
                known["max"] = [max(a, b) for a, b in zip(known["max"], entry["max"], strict=True)]
                known["dims"] = sorted(set(known["dims"]) | set(entry["dims"]))
    except SampleError as exc:
        raise DatasetError(str(exc)) from exc
    except Exception as exc:
        raise DatasetError(format_user_error(exc, "dataset code")) from exc
    return [merged[position] for position in sorted(merged)]


def get_sample(loaded: LoadedDataset, split: str, index: int) -> list[np.ndarray]:
    if split not in loaded.splits:
        raise DatasetError(f"unknown split {split!r}; expected 'train' or 'valid'")
    if index < 0:  # Python would count it from the end: a wrong sample, silently
        raise DatasetError(f"sample index {index} is negative; the first sample is 0")
    try:
        return list(loaded.splits[split][index])
    except (IndexError, SampleError) as exc:
        raise DatasetError(str(exc)) from exc


def build_cache(loaded: LoadedDataset, ctx: WorkerContext, cache_dir: str) -> CacheEntry:
    folder = os.path.join(cache_dir, loaded.key())
    existed = os.path.isdir(folder)
    try:
        entry, built = open_or_build(
            loaded.splits,
            loaded.key(),
            cache_dir,
            ctx.progress,
            classes=loaded.classes,
            padding=loaded.settings.padding,
        )
    except SampleError as exc:
        raise DatasetError(str(exc)) from exc
    if existed and built:
        # open_or_build only rebuilds an existing entry that failed its size or CRC check.
        # stderr reaches the app's log whichever connection (app or data client) asked.
        print(
            f"the dataset cache {folder} was truncated or corrupt (size or checksum "
            "mismatch): it was rebuilt from the dataset",
            file=sys.stderr,
        )
    return entry


class DatasetLoadWorker:
    """The worker's state: the loaded dataset and its data server."""

    def __init__(self, cache_dir: str | None = None) -> None:
        self.cache_dir = cache_dir or os.environ.get("TORCHSTUDIO_CACHE") or default_cache_dir()
        self.loaded: LoadedDataset | None = None
        self.server: DataServer | None = None
        self.handlers = Handlers()
        self.handlers.add("load", self.load)
        self.handlers.add("configure", self.configure)
        self.handlers.add("sample", self.sample)
        self.handlers.add("cache", self.cache, background=True)
        self.handlers.add("link", self.link)

    def require(self) -> LoadedDataset:
        if self.loaded is None:
            raise DatasetError("no dataset is loaded: send `load` first")
        return self.loaded

    def load(self, value: dict[str, Any], ctx: WorkerContext) -> dict[str, Any]:
        settings = DatasetSettings.from_json(value.get("settings"))
        ctx.progress(0.0, "running the dataset code")
        train, valid = run_dataset_code(value["code"], value.get("workdir"))
        loaded = LoadedDataset(value["code"], train, valid, settings, progress=ctx.progress)
        report = first_sample_report(loaded)
        self.loaded = loaded
        self._server().invalidate()
        return {**report, "link": self._server().link}

    def configure(self, value: dict[str, Any], ctx: WorkerContext) -> dict[str, Any]:
        loaded = self.require()
        previous = loaded.settings
        loaded.resplit(DatasetSettings.from_json(value.get("settings")))
        try:
            report = first_sample_report(loaded)
        except DatasetError:
            loaded.resplit(previous)
            raise
        self._server().invalidate()
        return {**report, "link": self._server().link}

    def sample(self, value: dict[str, Any], ctx: WorkerContext) -> list[np.ndarray]:
        return get_sample(self.require(), value.get("split", "train"), int(value["index"]))

    def cache(self, value: Any, ctx: WorkerContext) -> dict[str, Any]:
        entry = build_cache(self.require(), ctx, self.cache_dir)
        return {"key": entry.key, "folder": entry.folder}

    def link(self, value: Any, ctx: WorkerContext) -> dict[str, Any]:
        self.require()
        return self._server().link

    def _server(self) -> DataServer:
        if self.server is None:
            self.server = DataServer(
                lambda ctx: build_cache(self.require(), ctx, self.cache_dir),
                address=os.environ.get("TORCHSTUDIO_DATA_ADDRESS", "127.0.0.1"),
            )
        return self.server


def main() -> None:
    raise SystemExit(run_worker(DatasetLoadWorker().handlers, "datasetload"))


if __name__ == "__main__":
    main()
