"""Built-in analyzers: dataset statistics, class weights and reports (see modules.Analyzer)."""

from torchstudio.analyzers.multiclass import Multiclass
from torchstudio.analyzers.multilabel import MultiLabel
from torchstudio.analyzers.valuesdistribution import ValuesDistribution

__all__ = ["MultiLabel", "Multiclass", "ValuesDistribution"]
