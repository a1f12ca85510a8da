import numpy as np
from PIL import Image

from torchstudio.modules import Renderer


class MyRenderer(Renderer):
    """Show a 2-D tensor (or the first channel of a 3-D one) in shades of grey."""

    def render(
        self,
        title,
        tensor,
        size,
        dpi=100,
        shift=(0, 0, 0, 0),
        scale=(1, 1, 1, 1),
        input_tensors=(),
        target_tensor=None,
        labels=(),
    ):
        array = np.asarray(tensor, dtype=np.float32)
        while array.ndim > 2:
            array = array[0]
        array = np.atleast_2d(array)
        low, high = float(array.min()), float(array.max())
        array = (array - low) / (high - low or 1.0) * 255
        return Image.fromarray(array.astype(np.uint8)).resize(size, Image.NEAREST)


renderer = MyRenderer()
