"""TableRow renderer: a feature vector as names and values."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from torchstudio.modules import Renderer
from torchstudio.renderers._drawing import figure_to_image, new_figure


class TableRow(Renderer):
    """Render a table row (a 1-D feature vector) as lines of `name: value`.

    Args:
        names: the name of each value (the Table dataset's `feature_names`); values
            without a name are numbered.
        max_rows: most values shown; scale[0]/shift[0] zoom/pan over the rest.
    """

    def __init__(self, names: Sequence[str] = (), max_rows: int = 24) -> None:
        self.names = [str(name) for name in names]
        self.max_rows = max(1, max_rows)

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
        values = np.asarray(tensor).reshape(-1)
        start = max(0, min(int(shift[0]) if shift else 0, max(len(values) - 1, 0)))
        shown = values[start : start + self.max_rows]
        lines = []
        for offset, value in enumerate(shown):
            position = start + offset
            name = self.names[position] if position < len(self.names) else f"[{position}]"
            lines.append(f"{name}: {float(value):.4g}")
        if start + len(shown) < len(values):
            lines.append(f"... {len(values) - start - len(shown)} more")
        figure = new_figure(size, dpi)
        figure.text(0.02, 0.98, "\n".join(lines) or "(empty row)", va="top", ha="left",
                    family="monospace", fontsize=max(6, min(12, size[1] / (len(lines) + 2) / 1.6)))  # fmt: skip
        if title:
            figure.suptitle(title)
        return figure_to_image(figure, size)
