"""A bag-of-embeddings text classifier for padded token sequences."""

from __future__ import annotations

import torch
from torch import nn


class TextBag(nn.Module):
    """Averages the word embeddings of each text (padding excluded), then a dense layer.

    Takes the padded tokens (N x L, id 0 is padding) and their lengths (N), as the
    TextClassification dataset gives them with padding whose extra tensor is `lengths`.
    Outputs class logits (N x `num_classes`), for a cross entropy loss.
    """

    def __init__(self, vocabulary: int = 2000, num_classes: int = 2, embedding: int = 32):
        super().__init__()
        self.embed = nn.Embedding(vocabulary, embedding, padding_idx=0)
        self.classify = nn.Linear(embedding, num_classes)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        summed = self.embed(tokens.clamp(0, self.embed.num_embeddings - 1)).sum(dim=1)
        return self.classify(summed / lengths.clamp(min=1)[:, None].float())
