"""Built-in renderers: turn one tensor into a PIL image (see torchstudio.modules.Renderer)."""

from torchstudio.renderers.bitmap import Bitmap
from torchstudio.renderers.boundingbox import BoundingBox
from torchstudio.renderers.labels import Labels
from torchstudio.renderers.signal import Signal
from torchstudio.renderers.spectrogram import Spectrogram
from torchstudio.renderers.tablerow import TableRow
from torchstudio.renderers.tokentext import TokenText
from torchstudio.renderers.volume import Volume

__all__ = [
    "Bitmap",
    "BoundingBox",
    "Labels",
    "Signal",
    "Spectrogram",
    "TableRow",
    "TokenText",
    "Volume",
]
