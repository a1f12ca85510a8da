"""Multiclass analyzer: class balance of a classification dataset."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from torchstudio.modules import Analyzer
from torchstudio.renderers._drawing import figure_to_image, new_figure

SPLITS = ("training", "validation")


def class_indices(tensor: np.ndarray) -> np.ndarray:
    """The class indices a target tensor holds, as a flat int64 array.

    - a 0-d (or one-element) tensor is one class index;
    - a float tensor of one or more dimensions holds scores along its first axis (a one-hot
      or probability vector, or CxHxW maps): the argmax over that axis, for every position;
    - an integer/bool vector with a single 1 among 0s is one-hot: its argmax;
    - any other integer tensor is a map of class indices (a segmentation mask): every element.
    Negative indices (such as an ignore_index of -100) are dropped.
    """
    values = np.asarray(tensor)
    if values.size == 1:
        indices = np.rint(values.reshape(1).astype(np.float64)).astype(np.int64)
    elif np.issubdtype(values.dtype, np.floating):
        indices = np.argmax(values, axis=0).reshape(-1)
    elif values.ndim == 1 and np.isin(values, (0, 1)).all() and values.sum() == 1:
        indices = np.array([int(np.argmax(values))])
    else:
        indices = values.reshape(-1).astype(np.int64)
    return indices[indices >= 0]


class Multiclass(Analyzer):
    """Count the classes of the output tensors per split, and derive class weights for the loss.

    Output tensors are read with `class_indices` (class index, one-hot or probability vector,
    or a segmentation mask counted per pixel); several output tensors all count. Without
    output tensor ids, the last tensor of each sample is the target.

    Results: `counts` (per split, per class), `imbalance` (largest / smallest training count
    among the classes present) and `weights`: inverse training frequencies, normalised so
    that they average to 1 over the classes present in the training split; a class with no
    training sample gets weight 0 (it cannot contribute to the training loss anyway).

    Args:
        max_ticks: the report names at most this many classes on its axis.
    """

    def __init__(self, max_ticks: int = 40) -> None:
        super().__init__()
        self.max_ticks = max_ticks
        self.labels: list[str] = []
        self.output_tensors_id: list[int] = []
        self.counts: dict[str, list[int]] = {split: [] for split in SPLITS}
        self.imbalance: float | None = None

    def start_analysis(
        self,
        num_training_samples: int,
        num_validation_samples: int,
        input_tensors_id: Sequence[int],
        output_tensors_id: Sequence[int],
        labels: Sequence[str],
    ) -> None:
        self.labels = [str(label) for label in labels]
        self.output_tensors_id = list(output_tensors_id)
        self.counts = {split: [0] * len(self.labels) for split in SPLITS}
        self.imbalance = None
        self.weights = []

    def analyze_sample(self, sample: Sequence[np.ndarray], training_sample: bool) -> None:
        counts = self.counts["training" if training_sample else "validation"]
        targets = [sample[i] for i in self.output_tensors_id] or [sample[-1]]
        for target in targets:
            indices = class_indices(target)
            if indices.size == 0:
                continue
            found = np.bincount(indices)
            if found.size > len(counts):
                counts.extend([0] * (found.size - len(counts)))
            for index in np.flatnonzero(found):
                counts[index] += int(found[index])

    def finish_analysis(self) -> None:
        num_classes = max(len(self.labels), *(len(c) for c in self.counts.values()))
        for counts in self.counts.values():
            counts.extend([0] * (num_classes - len(counts)))
        training = np.array(self.counts["training"], dtype=np.float64)
        present = training > 0
        if not present.any():
            self.weights, self.imbalance = [], None
            return
        inverse = np.zeros_like(training)
        inverse[present] = 1.0 / training[present]
        self.weights = (inverse / inverse[present].mean()).tolist()
        self.imbalance = float(training[present].max() / training[present].min())

    def generate_report(self, size: tuple[int, int], dpi: int) -> Image.Image:
        figure = new_figure(size, dpi)
        axes_pair = figure.subplots(len(SPLITS), 1, squeeze=False)[:, 0]
        for split, axes in zip(SPLITS, axes_pair, strict=True):
            counts = self.counts[split]
            total = sum(counts)
            title = f"{split.capitalize()}: {total} counted"
            if split == "training" and self.imbalance is not None:
                title += f", imbalance {self.imbalance:.2f}"
            axes.set_title(title, fontsize="medium")
            positions = np.arange(len(counts))
            axes.bar(positions, counts, color="tab:blue" if split == "training" else "tab:orange")
            axes.set_ylabel("samples")
            if 0 < len(counts) <= self.max_ticks:
                names = [self.labels[i] if i < len(self.labels) else str(i) for i in positions]
                axes.set_xticks(positions, names, rotation=90 if len(counts) > 10 else 0)
            if total == 0:
                axes.text(0.5, 0.5, "no samples", ha="center", transform=axes.transAxes)
        return figure_to_image(figure, size)

    def state_dict(self) -> dict[str, Any]:
        return {
            "weights": list(self.weights),
            "labels": list(self.labels),
            "counts": {split: list(counts) for split, counts in self.counts.items()},
            "imbalance": self.imbalance,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.labels = [str(label) for label in state.get("labels", [])]
        counts = state.get("counts", {})
        self.counts = {split: [int(c) for c in counts.get(split, [])] for split in SPLITS}
        imbalance = state.get("imbalance")
        self.imbalance = None if imbalance is None else float(imbalance)
