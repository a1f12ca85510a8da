"""Labels renderer: class indices, probabilities and multi-label vectors."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from torchstudio.modules import Renderer
from torchstudio.renderers._drawing import axis_view, figure_to_image, new_figure, zoom_factor

MODES = ("auto", "index", "probabilities", "logits", "multilabel")
TARGET_COLOR = "tab:green"
WRONG_COLOR = "tab:red"
PREDICTED_COLOR = "tab:blue"
OTHER_COLOR = "lightsteelblue"


class Labels(Renderer):
    """Render a class label: a class index (0-d int tensor) as its name, a vector as bars.

    Args:
        mode: how to read a vector: 'probabilities' (bars as given, argmax is the class),
            'logits' (softmax first), 'multilabel' (one score per label, sigmoid first when
            outside [0, 1], every label above `threshold` is predicted), 'index', or 'auto':
            a 0-d or one-element integer tensor is an index, a vector in [0, 1] summing to 1 is
            probabilities, another vector in [0, 1] is multilabel, anything else is logits.
        threshold: multilabel score above which a label counts as predicted.

    Label names come from `labels` (else the class number). With a `target_tensor`, target
    classes are green and predicted classes that are not targets are red. scale[0]/shift[0]
    zoom/pan over the classes (shift in classes), or scale the text of a single class.
    """

    def __init__(self, mode: str = "auto", threshold: float = 0.5) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got '{mode}'")
        self.mode = mode
        self.threshold = threshold

    def render(
        self,
        title: str,
        tensor: np.ndarray,
        size: tuple[int, int],
        dpi: int = 100,
        shift: Sequence[float] = (0, 0, 0, 0),
        scale: Sequence[float] = (1, 1, 1, 1),
        input_tensors: Sequence[np.ndarray] = (),
        target_tensor: np.ndarray | None = None,
        labels: Sequence[str] = (),
    ) -> Image.Image:
        values = np.asarray(tensor)
        kind = self._kind(values)
        targets = None if target_tensor is None else self._classes(np.asarray(target_tensor))
        figure = new_figure(size, dpi)
        if kind == "index":
            self._draw_index(figure, int(values.reshape(-1)[0]), targets, labels, scale)
        else:
            scores = self._scores(values.reshape(-1).astype(np.float64), kind)
            predicted = self._predicted(scores, kind)
            self._draw_bars(figure, scores, predicted, targets, labels, shift, scale)
        if title:
            figure.suptitle(title)
        return figure_to_image(figure, size)

    def _kind(self, values: np.ndarray) -> str:
        if self.mode != "auto":
            return self.mode
        if values.ndim == 0 or (values.size == 1 and np.issubdtype(values.dtype, np.integer)):
            return "index"
        flat = values.reshape(-1).astype(np.float64)
        if flat.size and flat.min() >= 0 and flat.max() <= 1:
            return "probabilities" if abs(flat.sum() - 1) < 1e-3 else "multilabel"
        return "logits"

    @staticmethod
    def _scores(flat: np.ndarray, kind: str) -> np.ndarray:
        if flat.size == 0:
            return flat
        if kind == "logits":
            exponentials = np.exp(flat - flat.max())
            return exponentials / exponentials.sum()
        if kind == "multilabel" and flat.size and (flat.min() < 0 or flat.max() > 1):
            return 1 / (1 + np.exp(-flat))
        return flat

    def _predicted(self, scores: np.ndarray, kind: str) -> set[int]:
        if kind == "multilabel":
            return {int(i) for i in np.flatnonzero(scores > self.threshold)}
        return {int(np.argmax(scores))} if scores.size else set()

    def _classes(self, values: np.ndarray) -> set[int]:
        """The classes a tensor designates (used for the target)."""
        kind = self._kind(values)
        if kind == "index":
            return {int(values.reshape(-1)[0])}
        scores = self._scores(values.reshape(-1).astype(np.float64), kind)
        return self._predicted(scores, kind)

    @staticmethod
    def _draw_index(
        figure, index: int, targets: set[int] | None, labels: Sequence[str], scale
    ) -> None:
        zoom = zoom_factor(scale)
        axes = figure.add_subplot()
        axes.set_axis_off()
        color = "black"
        if targets is not None:
            color = TARGET_COLOR if index in targets else WRONG_COLOR
        axes.text(
            0.5,
            0.55,
            _name(index, labels),
            ha="center",
            va="center",
            color=color,
            fontsize=24 * zoom,
            transform=axes.transAxes,
        )
        if targets is not None and index not in targets:
            names = ", ".join(_name(t, labels) for t in sorted(targets))
            axes.text(
                0.5,
                0.2,
                f"target: {names}",
                ha="center",
                va="center",
                color=TARGET_COLOR,
                fontsize=12 * zoom,
                transform=axes.transAxes,
            )

    @staticmethod
    def _draw_bars(figure, scores, predicted, targets, labels, shift, scale) -> None:
        count = scores.size
        colors = []
        for index in range(count):
            if targets is not None and index in targets:
                colors.append(TARGET_COLOR)
            elif index in predicted:
                colors.append(WRONG_COLOR if targets is not None else PREDICTED_COLOR)
            else:
                colors.append(OTHER_COLOR)
        axes = figure.add_subplot()
        positions = np.arange(count)
        axes.barh(positions, scores, color=colors, height=0.8)
        low, high = axis_view(-0.5, count - 0.5, shift, scale, axis=0)
        # The first class at the top, as in a list.
        axes.set_ylim(high, low)
        axes.set_xlim(0, max(1.0, float(scores.max()) if count else 1.0))
        visible = [i for i in range(count) if low <= i <= high]
        pixel_height = figure.get_figheight() * figure.dpi
        if visible and len(visible) <= pixel_height / 12:  # only ticks that fit one per line
            axes.set_yticks(visible, [_name(i, labels) for i in visible])
        axes.grid(axis="x", alpha=0.3)


def _name(index: int, labels: Sequence[str]) -> str:
    return str(labels[index]) if 0 <= index < len(labels) else str(index)
