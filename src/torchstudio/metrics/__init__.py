"""Built-in metrics: classification scores accumulated over batches."""

from torchstudio.metrics.accuracy import Accuracy
from torchstudio.metrics.f_score import FScore
from torchstudio.metrics.precision import Precision
from torchstudio.metrics.recall import Recall

__all__ = ["Accuracy", "FScore", "Precision", "Recall"]
