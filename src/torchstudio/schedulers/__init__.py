"""Built-in learning rate schedulers: each takes the `optimizer` first, then its settings."""

from torchstudio.schedulers.multi_step import MultiStep
from torchstudio.schedulers.no_schedule import NoSchedule
from torchstudio.schedulers.one_cycle import OneCycle
from torchstudio.schedulers.step import Step

__all__ = ["MultiStep", "NoSchedule", "OneCycle", "Step"]
