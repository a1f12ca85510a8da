"""TokenText renderer: token ids decoded back to text."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import numpy as np
from PIL import Image

from torchstudio.modules import Renderer
from torchstudio.renderers._drawing import figure_to_image, new_figure


class TokenText(Renderer):
    """Render a token sequence (1-D integer ids) as the text it encodes.

    Args:
        vocabulary: the word of each id (the TextClassification dataset's `vocabulary`);
            ids without a word are shown as #id.
        skip: ids left out of the text (padding).
        max_characters: longest text shown.
    """

    def __init__(
        self, vocabulary: Sequence[str] = (), skip: Sequence[int] = (0,), max_characters: int = 600
    ) -> None:
        self.vocabulary = [str(word) for word in vocabulary]
        self.skip = {int(token) for token in skip}
        self.max_characters = max_characters

    def decode(self, tokens: np.ndarray) -> str:
        words = []
        for token in np.asarray(tokens).reshape(-1).astype(np.int64).tolist():
            if token in self.skip:
                continue
            words.append(
                self.vocabulary[token] if 0 <= token < len(self.vocabulary) else f"#{token}"
            )
        return " ".join(words)

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
        text = self.decode(tensor)
        if len(text) > self.max_characters:
            text = text[: self.max_characters] + " ..."
        width = max(20, int(size[0] / 7))
        figure = new_figure(size, dpi)
        wrapped = "\n".join(textwrap.wrap(text, width)) or "(no tokens)"
        figure.text(0.02, 0.98, wrapped, va="top", ha="left", fontsize=9, wrap=True)
        figure.text(0.98, 0.02, f"{np.asarray(tensor).size} tokens", ha="right", fontsize=7)
        if title:
            figure.suptitle(title)
        return figure_to_image(figure, size)
