"""Mirroring a run to TensorBoard and MLflow: its settings, every epoch's losses, metrics and
learning rate, and its best weights.

A model's `log` setting lists targets, "tensorboard:DIR" and/or "mlflow:URI" (a folder, made
an `mlruns` file store, or a tracking URI such as http://host:5000 or sqlite:///mlflow.db);
relative folders are the project folder's. Both packages are optional extras: a target whose
package is missing says how to install it. `ModelService.train` opens the mirrors of a run
(`open_mirrors`) and feeds them what the trainer sends; a mirror that fails while the run
trains is closed, its error kept, and training goes on.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import tempfile
from pathlib import Path
from typing import Any

KINDS = {"tensorboard": "tensorboard", "mlflow": "mlflow"}  # kind -> the package it needs
EPOCH_VALUES = ("train_loss", "valid_loss", "train_metric", "valid_metric", "lr")
TENSORBOARD_TAGS = {
    "train_loss": "loss/train",
    "valid_loss": "loss/valid",
    "train_metric": "metric/train",
    "valid_metric": "metric/valid",
    "lr": "lr",
}
BEST_FILE = "best.safetensors"


def parse_target(text: str) -> tuple[str, str]:
    """("tensorboard" or "mlflow", where) from "KIND:WHERE"; ValueError saying the form."""
    kind, colon, where = text.strip().partition(":")
    if not colon or kind not in KINDS or not where.strip():
        raise ValueError(
            f"log target {text!r}: give tensorboard:FOLDER or mlflow:URI (a folder for an "
            "mlruns store, or a tracking URI)"
        )
    return kind, where.strip()


def parse_targets(text: str) -> list[str]:
    """The targets of a typed text ("tensorboard:runs, mlflow:mlruns"), each checked."""
    targets = [part.strip() for part in text.split(",") if part.strip()]
    for target in targets:
        parse_target(target)
    return targets


def missing_package(kind: str) -> str | None:
    """How to install what a target kind needs; None when it is installed."""
    package = KINDS[kind]
    if importlib.util.find_spec(package) is not None:
        return None
    name = {"tensorboard": "TensorBoard", "mlflow": "MLflow"}[kind]
    return (
        f"{name} mirroring needs the {package} package, not installed here: "
        f"pip install 'torchstudio[{kind}]' (or pip install {package})"
    )


def check_available(targets: list[str] | tuple[str, ...]) -> None:
    """ValueError naming the first target whose package is missing, and how to install it."""
    for target in targets:
        missing = missing_package(parse_target(target)[0])
        if missing:
            raise ValueError(f"log target {target!r}: {missing}")


def _folder(where: str, base: Path) -> Path:
    path = Path(where).expanduser()
    return path if path.is_absolute() else base / path


def _flat_settings(settings: dict[str, Any]) -> dict[str, str]:
    """The run's settings as texts (code chunks joined), for parameters and a summary."""
    flat = {}
    for key, value in settings.items():
        if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            value = "\n---\n".join(value)
        flat[key] = value if isinstance(value, str) else json.dumps(value)
    return flat


class TensorBoardMirror:
    """Event files in DIR/MODEL/run-N[-NAME]: the settings as text, scalars per epoch; the
    best weights beside them (best.safetensors, named in a text summary)."""

    def __init__(self, folder: Path, settings: dict[str, Any]) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.folder = folder
        self.writer = SummaryWriter(log_dir=str(folder))
        table = "\n".join(f"    {k}: {v}" for k, v in _flat_settings(settings).items())
        self.writer.add_text("settings", table)

    def epoch(self, record: dict[str, Any]) -> None:
        for key, tag in TENSORBOARD_TAGS.items():
            if record.get(key) is not None:
                self.writer.add_scalar(tag, float(record[key]), int(record["epoch"]))
        self.writer.flush()

    def best(self, epoch: int, weights: bytes) -> None:
        (self.folder / BEST_FILE).write_bytes(weights)
        self.writer.add_text("best", f"epoch {epoch}: {self.folder / BEST_FILE}", epoch)

    def finish(self, status: str) -> None:
        self.writer.add_text("status", status)
        self.writer.close()


class MlflowMirror:
    """An MLflow run in the experiment named after the project: the settings as parameters,
    each epoch's values as metrics (step: the epoch), the best weights as an artifact."""

    def __init__(
        self, uri: str, experiment: str, run_name: str, tags: dict[str, str], settings: dict
    ) -> None:
        from mlflow.entities import Param
        from mlflow.tracking import MlflowClient

        self.client = MlflowClient(tracking_uri=uri)
        found = self.client.get_experiment_by_name(experiment)
        experiment_id = found.experiment_id if found else self.client.create_experiment(experiment)
        run = self.client.create_run(experiment_id, run_name=run_name, tags=tags)
        self.run_id = run.info.run_id
        # MLflow keeps a parameter value of at most 6000 characters.
        params = [Param(k, v[:6000]) for k, v in _flat_settings(settings).items()]
        self.client.log_batch(self.run_id, params=params)

    def epoch(self, record: dict[str, Any]) -> None:
        for key in EPOCH_VALUES:
            if record.get(key) is not None:
                self.client.log_metric(
                    self.run_id, key, float(record[key]), step=int(record["epoch"])
                )

    def best(self, epoch: int, weights: bytes) -> None:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / BEST_FILE
            path.write_bytes(weights)
            self.client.log_artifact(self.run_id, str(path))
        self.client.set_tag(self.run_id, "best_epoch", str(epoch))

    def finish(self, status: str) -> None:
        state = {"finished": "FINISHED", "stopped": "KILLED"}.get(status, "FAILED")
        self.client.set_terminated(self.run_id, status=state)


def mlflow_uri(where: str, base: Path) -> str:
    """A tracking URI as given, or a folder's file store (which MLflow 3 keeps only when
    MLFLOW_ALLOW_FILE_STORE is set: a local mlruns/ folder is what was asked for)."""
    if "://" in where or where.startswith(("sqlite:", "databricks")):
        return where
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    return _folder(where, base).absolute().as_uri()


class Mirrors:
    """The mirrors of one run; one failing is closed and its error kept (`errors`)."""

    def __init__(self, mirrors: list[Any]) -> None:
        self.mirrors = mirrors
        self.errors: list[str] = []

    def _each(self, method: str, *args: Any) -> None:
        for mirror in list(self.mirrors):
            try:
                getattr(mirror, method)(*args)
            except Exception as exc:  # a tracker's failure must not stop the training
                self.mirrors.remove(mirror)
                self.errors.append(f"{type(mirror).__name__}: {exc}")
                with contextlib.suppress(Exception):
                    mirror.finish("error")

    def epoch(self, record: dict[str, Any]) -> None:
        self._each("epoch", record)

    def best(self, epoch: int, weights: bytes) -> None:
        self._each("best", epoch, weights)

    def finish(self, status: str) -> None:
        self._each("finish", status)


def open_mirrors(
    targets: list[str] | tuple[str, ...],
    base: Path,
    experiment: str,
    model: str,
    run: int,
    run_name: str | None,
    settings: dict[str, Any],
) -> Mirrors:
    """The run's mirrors; ValueError when a target is malformed, its package is missing
    or it cannot be opened (the reason said)."""
    check_available(targets)
    label = f"{model} run {run}" + (f" ({run_name})" if run_name else "")
    mirrors: list[Any] = []
    for target in targets:
        kind, where = parse_target(target)
        try:
            if kind == "tensorboard":
                folder = _folder(where, base) / model / (
                    f"run-{run}" + (f"-{run_name}" if run_name else ""))  # fmt: skip
                mirrors.append(TensorBoardMirror(folder, settings))
            else:
                tags = {"torchstudio.model": model, "torchstudio.run": str(run)}
                uri = mlflow_uri(where, base)
                mirrors.append(MlflowMirror(uri, experiment, label, tags, settings))
        except Exception as exc:
            Mirrors(mirrors).finish("error")
            raise ValueError(f"log target {target!r} cannot be opened: {exc}") from exc
    return Mirrors(mirrors)
