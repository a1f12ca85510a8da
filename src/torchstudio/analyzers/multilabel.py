"""MultiLabel analyzer: how often each label is present in a multi-label dataset."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from torchstudio.modules import Analyzer
from torchstudio.renderers._drawing import figure_to_image, new_figure

SPLITS = ("training", "validation")


class MultiLabel(Analyzer):
    """Positive rate of every label per split, and `pos_weight`-style weights for BCE losses.

    A sample's label vector is its output tensors flattened and concatenated (without output
    tensor ids, the last tensor); a label is positive when its value is above `threshold`
    (0/1 vectors and probabilities alike).

    Results: `samples` and `positives` per split, `rates()` and `weights`: per label, the
    training negatives / positives ratio (the `pos_weight` of `BCEWithLogitsLoss`); a label
    with no positive training sample gets 1.0, which leaves its loss unweighted.

    Args:
        threshold: value above which a label counts as present.
        max_ticks: the report names at most this many labels on its axis.
    """

    def __init__(self, threshold: float = 0.5, max_ticks: int = 40) -> None:
        super().__init__()
        self.threshold = threshold
        self.max_ticks = max_ticks
        self.labels: list[str] = []
        self.output_tensors_id: list[int] = []
        self.samples: dict[str, int] = dict.fromkeys(SPLITS, 0)
        self.positives: dict[str, list[int]] = {split: [] for split in SPLITS}

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
        self.samples = dict.fromkeys(SPLITS, 0)
        self.positives = {split: [0] * len(self.labels) for split in SPLITS}
        self.weights = []

    def analyze_sample(self, sample: Sequence[np.ndarray], training_sample: bool) -> None:
        split = "training" if training_sample else "validation"
        targets = [sample[i] for i in self.output_tensors_id] or [sample[-1]]
        vector = np.concatenate([np.asarray(t, dtype=np.float64).reshape(-1) for t in targets])
        positives = self.positives[split]
        if vector.size > len(positives):
            positives.extend([0] * (vector.size - len(positives)))
        for index in np.flatnonzero(vector > self.threshold):
            positives[index] += 1
        self.samples[split] += 1

    def finish_analysis(self) -> None:
        num_labels = max(len(self.labels), *(len(p) for p in self.positives.values()))
        for positives in self.positives.values():
            positives.extend([0] * (num_labels - len(positives)))
        positives = np.array(self.positives["training"], dtype=np.float64)
        negatives = self.samples["training"] - positives
        weights = np.ones_like(positives)
        present = positives > 0
        weights[present] = negatives[present] / positives[present]
        self.weights = weights.tolist() if self.samples["training"] else []

    def rates(self, split: str = "training") -> list[float]:
        """Fraction of the split's samples in which each label is present."""
        count = self.samples[split]
        return [p / count if count else 0.0 for p in self.positives[split]]

    def generate_report(self, size: tuple[int, int], dpi: int) -> Image.Image:
        figure = new_figure(size, dpi)
        axes = figure.add_subplot()
        num_labels = len(self.positives["training"])
        positions = np.arange(num_labels)
        width = 0.4
        for offset, split, color in (
            (-0.2, "training", "tab:blue"),
            (0.2, "validation", "tab:orange"),
        ):
            axes.bar(
                positions + offset,
                self.rates(split),
                width=width,
                color=color,
                label=f"{split} ({self.samples[split]} samples)",
            )
        axes.set_ylim(0, 1)
        axes.set_ylabel("positive rate")
        axes.legend(loc="best", fontsize="small")
        if 0 < num_labels <= self.max_ticks:
            names = [self.labels[i] if i < len(self.labels) else str(i) for i in positions]
            axes.set_xticks(positions, names, rotation=90 if num_labels > 10 else 0)
        axes.set_title("Label positive rates", fontsize="medium")
        return figure_to_image(figure, size)

    def state_dict(self) -> dict[str, Any]:
        return {
            "weights": list(self.weights),
            "labels": list(self.labels),
            "samples": dict(self.samples),
            "positives": {split: list(p) for split, p in self.positives.items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.labels = [str(label) for label in state.get("labels", [])]
        samples = state.get("samples", {})
        self.samples = {split: int(samples.get(split, 0)) for split in SPLITS}
        positives = state.get("positives", {})
        self.positives = {split: [int(p) for p in positives.get(split, [])] for split in SPLITS}
