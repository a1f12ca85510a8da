"""Built-in loss modules: compare a model's output with the target."""

from torchstudio.loss.binary_cross_entropy import BinaryCrossEntropy
from torchstudio.loss.cross_entropy import CrossEntropy
from torchstudio.loss.mean_absolute_error import MeanAbsoluteError
from torchstudio.loss.mean_square_error import MeanSquareError
from torchstudio.loss.smooth_mean_absolute_error import SmoothMeanAbsoluteError

__all__ = [
    "BinaryCrossEntropy",
    "CrossEntropy",
    "MeanAbsoluteError",
    "MeanSquareError",
    "SmoothMeanAbsoluteError",
]
