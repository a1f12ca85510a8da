"""Built-in optimizers: each takes the model's `params` first, then its settings."""

from torchstudio.optim.adam import Adam
from torchstudio.optim.adamw import AdamW
from torchstudio.optim.adamw_schedule_free import AdamWScheduleFree
from torchstudio.optim.sgd import SGD

__all__ = ["SGD", "Adam", "AdamW", "AdamWScheduleFree"]
