"""Table dataset: rows of a CSV file (or Parquet, when pyarrow is installed)."""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

TASKS = ("auto", "classification", "regression")


def read_table(path: Path) -> tuple[list[str], list[list[str]]]:
    """Column names and rows (as texts) of a CSV file, or of a Parquet file with pyarrow."""
    if path.suffix.lower() in (".parquet", ".pq"):
        try:
            import pyarrow.parquet as parquet
        except ImportError as exc:
            raise ImportError(
                f"reading {path} needs pyarrow (pip install pyarrow); or save the table as CSV"
            ) from exc
        table = parquet.read_table(path)
        columns = [[("" if v is None else str(v)) for v in c.to_pylist()] for c in table.columns]
        return list(table.column_names), [list(row) for row in zip(*columns, strict=True)]
    with open(path, newline="") as file:
        reader = csv.reader(file)
        try:
            names = [name.strip() for name in next(reader)]
        except StopIteration:
            raise ValueError(f"{path} is empty: expected a header line of column names") from None
        rows = []
        for line, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) != len(names):
                raise ValueError(
                    f"{path}, line {line}: {len(row)} values, but the header names {len(names)} "
                    "columns"
                )
            rows.append([value.strip() for value in row])
    return names, rows


def _numbers(values: Sequence[str]) -> np.ndarray | None:
    """The column as float64 (empty texts are NaN), or None when a value is not a number."""
    try:
        return np.asarray([float(v) if v != "" else math.nan for v in values], np.float64)
    except ValueError:
        return None


class Table(Dataset):
    """Rows of a table: a float32 feature vector and a target, by column name.

    Numeric columns are standardised with the mean and deviation of the training rows only
    (missing values become that mean); other columns are categorical and one-hot encoded
    with the categories of the training rows (an unseen category is all zeros). The rows
    are shuffled with `seed`, then the first `split` fraction trains and the rest
    validates, so both sets share one encoding.

    The target is a class index (int64 0-d, its names in `classes`) for classification, or
    a float32 0-d value for regression; 'auto' picks classification for a non-numeric
    target or one with at most 20 distinct integer values. `feature_names` names each
    value of the feature vector (for the TableRow renderer).

    Args:
        path: a .csv file (header line of column names), or .parquet with pyarrow.
        target: the target column's name (default: the last column).
        features: the feature columns' names (default: every other column).
        task: 'auto', 'classification' or 'regression'.
        train: the training rows (True) or the validation rows (False).
        split: fraction of the rows that train.
        seed: seed of the shuffle before the split.
    """

    def __init__(
        self,
        path: str = "data.csv",
        target: str | None = None,
        features: Sequence[str] | None = None,
        task: str = "auto",
        train: bool = True,
        split: float = 0.8,
        seed: int = 0,
    ) -> None:
        if task not in TASKS:
            raise ValueError(f"task must be one of {', '.join(TASKS)}, not {task!r}")
        if not 0.0 < split <= 1.0:
            raise ValueError(f"split must be in (0, 1], not {split}")
        file = Path(path)
        if not file.is_file():
            raise FileNotFoundError(f"table file {path} does not exist")
        names, rows = read_table(file)
        if not rows:
            raise ValueError(f"{path} has a header but no rows")
        target = target or names[-1]
        features = list(features) if features else [n for n in names if n != target]
        for name in [target, *features]:
            if name not in names:
                raise ValueError(f"{path} has no column {name!r}; its columns: {', '.join(names)}")
        order = np.random.default_rng(seed).permutation(len(rows))
        boundary = round(split * len(rows))
        chosen = order[:boundary] if train else order[boundary:]
        training_rows = order[:boundary]
        columns = {name: [row[names.index(name)] for row in rows] for name in names}

        parts, self.feature_names = [], []
        for name in features:
            values = columns[name]
            numbers = _numbers(values)
            if numbers is not None:
                known = numbers[training_rows][~np.isnan(numbers[training_rows])]
                mean = float(known.mean()) if len(known) else 0.0
                deviation = float(known.std()) if len(known) else 1.0
                filled = np.where(np.isnan(numbers), mean, numbers)
                parts.append(((filled - mean) / (deviation or 1.0))[:, None])
                self.feature_names.append(name)
            else:
                categories = sorted({values[i] for i in training_rows})
                index = {category: position for position, category in enumerate(categories)}
                encoded = np.zeros((len(values), len(categories)))
                for row, value in enumerate(values):
                    if value in index:
                        encoded[row, index[value]] = 1.0
                parts.append(encoded)
                self.feature_names += [f"{name}={category}" for category in categories]
        matrix = np.concatenate(parts, axis=1) if parts else np.zeros((len(rows), 0))
        self.features = torch.from_numpy(matrix[chosen].astype(np.float32))

        target_values = columns[target]
        numbers = _numbers(target_values)
        if task == "auto":
            few = numbers is not None and len(np.unique(numbers)) <= 20
            integral = numbers is not None and bool(np.all(numbers == np.round(numbers)))
            task = "classification" if numbers is None or (few and integral) else "regression"
        self.task = task
        if task == "classification":
            # Classes of every row: training and validation share one numbering.
            self.classes = sorted(set(target_values), key=_class_order)
            index = {name: position for position, name in enumerate(self.classes)}
            labels = [index[value] for value in target_values]
            self.targets = torch.tensor([labels[i] for i in chosen], dtype=torch.int64)
        else:
            if numbers is None:
                raise ValueError(f"regression needs a numeric target; column {target!r} is not")
            self.targets = torch.from_numpy(numbers[chosen].astype(np.float32))
        self.target_name = target

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.features[index], self.targets[index]


def _class_order(name: str) -> tuple[int, float | str]:
    """Numeric class names in numeric order (2 before 10), then the others."""
    try:
        return (0, float(name))
    except ValueError:
        return (1, name)
