"""Built-in datasets: torch.utils.data.Dataset classes returning tuples of tensors."""

from torchstudio.datasets.digits import Digits
from torchstudio.datasets.genericloader import GenericLoader
from torchstudio.datasets.randomgenerator import RandomGenerator
from torchstudio.datasets.table import Table
from torchstudio.datasets.textclassification import TextClassification

__all__ = ["Digits", "GenericLoader", "RandomGenerator", "Table", "TextClassification"]
