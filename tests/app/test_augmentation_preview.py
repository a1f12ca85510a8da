"""The augmentation preview: one sample drawn several times, the dataset code run for each."""

import io

import numpy as np
import pytest
from PIL import Image
from tests.helpers.studios import demo_studio

pytestmark = pytest.mark.timeout(120)

AUGMENTED = """
import torch

class Noisy:
    def __len__(self):
        return 10

    def __getitem__(self, index):
        image = torch.zeros(1, 8, 8)
        image[0, index % 8] = 1.0
        return image + 0.5 * torch.rand(1, 8, 8), index % 2  # a random augmentation

train = Noisy()
"""


async def test_the_same_sample_drawn_several_times_differs(tmp_path):
    async with demo_studio(tmp_path, load=False) as studio:
        dataset = studio.dataset
        dataset.set_code(AUGMENTED)
        assert await dataset.load(), dataset.error
        drawings = [await dataset.draw_image("train", 3, 0, (64, 64)) for _ in range(3)]
        pixels = [np.asarray(Image.open(io.BytesIO(png))) for png in drawings]
        assert all(p.shape[:2] == (64, 64) for p in pixels)
        assert not np.array_equal(pixels[0], pixels[1]) and not np.array_equal(pixels[1], pixels[2])
        # The browser's own image of the sample stays one drawing (cached), as before.
        once = await dataset.sample_image("train", 3, 0, (64, 64), ahead=0)
        assert once == await dataset.sample_image("train", 3, 0, (64, 64), ahead=0)
        missing = await dataset.draw_image("train", 3, 7, (64, 64))
        assert missing.startswith(b"\x89PNG")  # an image saying there is no tensor 7
