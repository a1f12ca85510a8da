"""Training runs: the typed record of one training and pure functions over runs.

A run keeps the settings the trainer got, the fingerprint of the dataset (with roles) it
trained on and of the model code; its epochs, best weights and checkpoint belong to it in
the project (`Project.runs`, `Project.epochs(model, run)`, `Project.weights(..., run)`).
Nothing here does I/O: `ModelService` reads and writes runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from torchstudio.app.fingerprint import fingerprint, short

# The settings a run is compared and summarized by, in the order shown.
KEY_SETTINGS = (
    "epochs",
    "batch_size",
    "precision",
    "shuffle",
    "early_stop",
    "seed",
    "device",
    "devices",
    "loss",
    "metric",
    "optimizer",
    "scheduler",
)


def code_fingerprint(code: str, workdir: str | None) -> str:
    """What a model's build and its weights depend on: its code and its working folder."""
    return fingerprint("model", code, workdir)


@dataclass(frozen=True)
class Run:
    """One training of a model, as the project keeps it."""

    model: str
    number: int
    status: str = "training"  # training / stopped / finished / error
    settings: dict[str, Any] = field(default_factory=dict)
    dataset: str = ""  # the dataset fingerprint ("" : not recorded, a migrated run)
    code: str = ""  # the model code fingerprint ("" : not recorded)
    summary: dict[str, Any] = field(default_factory=dict)
    created: float = 0.0

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Run:
        """A run from `Project.runs`' rows."""
        return cls(
            model=str(record["model"]),
            number=int(record["number"]),
            status=str(record["status"]),
            settings=dict(record.get("settings") or {}),
            dataset=str(record.get("dataset") or ""),
            code=str(record.get("code") or ""),
            summary=dict(record.get("summary") or {}),
            created=float(record.get("created") or 0.0),
        )

    @property
    def label(self) -> str:
        return f"run {self.number}"

    @property
    def name(self) -> str | None:
        """The name the run was given (`torchstudio run --run-name`), if any."""
        name = self.summary.get("name")
        return str(name) if name else None

    @property
    def model_values(self) -> dict[str, str]:
        """The model form's values this run was built with, where they differ from the
        model's own at the time (a sweep trial's): {} otherwise."""
        return dict(self.summary.get("model_values") or {})

    def dataset_stale(self, dataset: str) -> str | None:
        """Why the run's weights do not fit the dataset `dataset` (None: they do, or unknown)."""
        if not self.dataset or self.dataset == dataset:
            return None
        return (
            f"{self.label} of {self.model} was trained on dataset {short(self.dataset)}, and the "
            f"dataset in use is {short(dataset)} (the dataset or its roles changed since)"
        )

    def code_stale(self, code: str) -> str | None:
        """Why the run's weights do not fit the model code `code` (None: they do, or unknown)."""
        if not self.code or self.code == code:
            return None
        return f"the code of {self.model} changed since {self.label} was trained"

    def stale_reason(self, dataset: str, code: str) -> str | None:
        """Why the run's results no longer match what is in use; None when they do."""
        return self.dataset_stale(dataset) or self.code_stale(code)


def brief_value(value: Any) -> str:
    """A setting as shown in a table: code by the line that makes its object."""
    if isinstance(value, list):
        return " | ".join(brief_value(v) for v in value)
    if isinstance(value, str) and "\n" in value or isinstance(value, str) and len(value) > 40:
        lines = [
            line.strip()
            for line in str(value).splitlines()
            if "=" in line and not line.lstrip().startswith(("import", "from", "#"))
        ]
        text = lines[-1] if lines else str(value).strip().splitlines()[0]
        text = re.sub(r"^\w+\s*=\s*", "", text)  # "optimizer = Adam(...)": its key says it
        return re.sub(r"\s+", " ", text)[:60]
    return str(value)


def key_settings(settings: dict[str, Any], model_values: dict[str, str] | None = None) -> str:
    """A short line of a run's main settings: "epochs 10 · batch_size 64 · optimizer ...",
    then the model form's values it was built with, if it records them (a sweep trial)."""
    shown = [
        f"{key} {brief_value(settings[key])}"
        for key in ("epochs", "batch_size", "precision", "optimizer")
        if settings.get(key) not in (None, "", [])
    ]
    shown += [f"model.{key} {value}" for key, value in (model_values or {}).items()]
    return " · ".join(shown)


def settings_diff(first: Run, second: Run) -> list[tuple[str, str, str]]:
    """(setting, first's value, second's value) for each setting that differs, and the dataset."""
    rows = []
    keys = [k for k in KEY_SETTINGS if k in first.settings or k in second.settings]
    keys += sorted((set(first.settings) | set(second.settings)) - set(KEY_SETTINGS))
    for key in keys:
        a, b = first.settings.get(key), second.settings.get(key)
        if a != b:
            rows.append((key, brief_value(a), brief_value(b)))
    if first.model_values and second.model_values:  # two sweep trials: their form values
        for key in sorted(set(first.model_values) | set(second.model_values)):
            a, b = first.model_values.get(key, "-"), second.model_values.get(key, "-")
            if a != b:
                rows.append((f"model.{key}", a, b))
    if first.dataset != second.dataset:
        rows.append(("dataset", short(first.dataset), short(second.dataset)))
    if first.code != second.code:
        rows.append(("model code", short(first.code), short(second.code)))
    return rows


def diff_line(first: Run, second: Run) -> str:
    """One line under the Dashboard's table: what two compared runs differ in."""
    rows = settings_diff(first, second)
    names = f"{first.model} {first.label} vs {second.model} {second.label}"
    if not rows:
        return f"{names}: same settings, dataset and code"
    return f"{names}: " + "; ".join(f"{key} {a} → {b}" for key, a, b in rows)
