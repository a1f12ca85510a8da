"""TextClassification dataset: texts and their classes, as variable-length token tensors."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from torchstudio.datasets.table import read_table

PAD, UNKNOWN = "<pad>", "<unk>"  # token ids 0 and 1
TEXT_EXTENSIONS = (".txt",)


def tokenize(text: str) -> list[str]:
    """Lower-case words and single punctuation marks."""
    return re.findall(r"\w+|[^\w\s]", text.lower())


class TextClassification(Dataset):
    """Texts with a class: one folder per class of .txt files, or a table with a text column.

    Each sample is (tokens, label): an int64 vector of token ids, as long as the text (up
    to `max_length` tokens), and an int64 0-d class index into `classes`. Texts vary in
    length: set the padding of tensor 0 in the Dataset tab (suggested when loaded). The
    texts are shuffled with `seed`, then the first `split` fraction trains and the rest
    validates. The vocabulary (`vocabulary`: id -> word; 0 is padding, 1 an unknown word)
    holds the `max_vocabulary` most frequent words of the training texts only.

    Args:
        root: a folder of class folders (root/positive/1.txt...), or a .csv (.parquet) file.
        text_column: the table's text column (default: the first).
        label_column: the table's class column (default: the last).
        train: the training texts (True) or the validation texts (False).
        split: fraction of the texts that train.
        seed: seed of the shuffle before the split.
        max_vocabulary: most words kept (the two special tokens included).
        max_length: longest token sequence; longer texts are cut.
    """

    def __init__(
        self,
        root: str = "data",
        text_column: str | None = None,
        label_column: str | None = None,
        train: bool = True,
        split: float = 0.8,
        seed: int = 0,
        max_vocabulary: int = 2000,
        max_length: int = 256,
    ) -> None:
        if not 0.0 < split <= 1.0:
            raise ValueError(f"split must be in (0, 1], not {split}")
        if max_vocabulary < 3 or max_length < 1:
            raise ValueError("max_vocabulary must be at least 3 and max_length at least 1")
        texts, labels = self._read(Path(root), text_column, label_column)
        self.classes = sorted(set(labels))
        index = {name: position for position, name in enumerate(self.classes)}
        order = np.random.default_rng(seed).permutation(len(texts))
        boundary = round(split * len(texts))
        counts = Counter(word for i in order[:boundary] for word in tokenize(texts[i]))
        common = [word for word, _ in counts.most_common(max_vocabulary - 2)]
        self.vocabulary = [PAD, UNKNOWN, *common]
        ids = {word: position for position, word in enumerate(self.vocabulary)}
        chosen = order[:boundary] if train else order[boundary:]
        self.tokens = [
            torch.tensor([ids.get(w, 1) for w in tokenize(texts[i])][:max_length] or [1])
            for i in chosen
        ]
        self.targets = torch.tensor([index[labels[i]] for i in chosen], dtype=torch.int64)

    @staticmethod
    def _read(
        root: Path, text_column: str | None, label_column: str | None
    ) -> tuple[list[str], list[str]]:
        if root.is_file():
            names, rows = read_table(root)
            text = text_column or names[0]
            label = label_column or names[-1]
            for name in (text, label):
                if name not in names:
                    raise ValueError(
                        f"{root} has no column {name!r}; its columns: {', '.join(names)}"
                    )
            return [r[names.index(text)] for r in rows], [r[names.index(label)] for r in rows]
        if not root.is_dir():
            raise FileNotFoundError(f"text folder or table {root} does not exist")
        texts, labels = [], []
        for folder in sorted(p for p in root.iterdir() if p.is_dir()):
            for path in sorted(folder.rglob("*")):
                if path.suffix.lower() in TEXT_EXTENSIONS and path.is_file():
                    texts.append(path.read_text(encoding="utf-8", errors="replace"))
                    labels.append(folder.name)
        if not texts:
            raise FileNotFoundError(
                f"no .txt files in the class folders of {root} (expected root/CLASS/NAME.txt)"
            )
        return texts, labels

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.tokens[index], self.targets[index]
