"""Built-in datasets: torch.utils.data.Dataset classes returning tuples of tensors."""

from torchstudio.datasets.digits import Digits
from torchstudio.datasets.genericloader import GenericLoader
from torchstudio.datasets.randomgenerator import RandomGenerator

__all__ = ["Digits", "GenericLoader", "RandomGenerator"]
