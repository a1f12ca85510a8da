"""The model, from its code in TorchStudio."""

from __future__ import annotations

import torch

# The studio builds a model with torch's random generator seeded to this value, so that the
# same code gives the same starting weights.
# @SEED@


def build_model(seed: int | None = BUILD_SEED) -> torch.nn.Module:
    """The model; with `seed`, torch's generator is seeded first (as the studio's build)."""
    if seed is not None:
        torch.manual_seed(seed)
    # @MODEL@
    return model  # the model code above defines it
