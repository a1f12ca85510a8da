"""Renderers: exact output size, visible content, and zoom/pan effects."""

import numpy as np
import pytest
from PIL import Image

from torchstudio.modules import Renderer
from torchstudio.renderers import Bitmap, BoundingBox, Labels, Signal, Spectrogram, Volume

SIZE = (160, 120)
RNG = np.random.default_rng(0)
GRADIENT = np.linspace(0, 1, 16)
RGB_IMAGE = np.stack(
    [np.outer(GRADIENT, GRADIENT), np.outer(1 - GRADIENT, GRADIENT), RNG.random((16, 16))]
)
TIME = np.arange(2000)

CASES = {
    "bitmap rgb": (Bitmap(), RGB_IMAGE, {}),
    "bitmap rgba": (Bitmap(), np.concatenate([RGB_IMAGE, np.ones((1, 16, 16))]), {}),
    "bitmap gray 1xHxW": (Bitmap(), RNG.random((1, 12, 20)), {}),
    "bitmap viridis HxW": (Bitmap(colormap="viridis"), RNG.random((12, 20)), {}),
    "bitmap uint8 fixed range": (Bitmap(min_value=0, max_value=255), RNG.integers(0, 256, (3, 9, 9), dtype=np.uint8), {}),
    "signal mono": (Signal(), np.sin(TIME / 40), {}),
    "signal stereo": (Signal(), np.stack([np.sin(TIME / 40), np.cos(TIME / 25)]), {}),
    "spectrogram complex": (Spectrogram(), RNG.normal(size=(33, 40)) + 1j * RNG.normal(size=(33, 40)), {}),
    "spectrogram magnitude 1xFxT": (Spectrogram(log_scale=False, colormap="viridis"), RNG.random((1, 20, 30)), {}),
    "volume grid": (Volume(), RNG.random((6, 8, 8)), {}),
    "volume rgb slice": (Volume(slice_index=2), RNG.random((3, 5, 8, 8)), {}),
    "labels index": (Labels(), np.array(2), {"labels": ["cat", "dog", "bird"]}),
    "labels probabilities": (Labels(), np.array([0.1, 0.7, 0.2]), {"labels": ["cat", "dog", "bird"]}),
    "labels logits": (Labels(), RNG.normal(size=12), {}),
    "labels multilabel": (Labels(), np.array([1.0, 0.0, 1.0, 0.0]), {}),
    "bounding boxes": (
        BoundingBox(),
        np.array([[2, 2, 10, 9, 0, 0.9], [5, 6, 15, 15, 1, 0.4]]),
        {"input_tensors": [RGB_IMAGE], "labels": ["cat", "dog"]},
    ),
    "bounding boxes no image": (BoundingBox(), np.array([[10, 10, 50, 40]]), {}),
}  # fmt: skip


def colours(image: Image.Image) -> int:
    pixels = np.asarray(image.convert("RGBA")).reshape(-1, 4)
    return len(np.unique(pixels, axis=0))


@pytest.mark.parametrize("name", list(CASES))
def test_render_has_size_content_and_zoom(name):
    renderer, tensor, context = CASES[name]
    assert isinstance(renderer, Renderer)
    image = renderer.render(name, tensor, SIZE, 100, **context)
    assert isinstance(image, Image.Image)
    assert image.mode in ("RGB", "RGBA")
    assert image.size == SIZE
    assert colours(image) > 1
    zoomed = renderer.render(name, tensor, SIZE, 100, scale=(3, 3, 1, 1), **context)
    assert zoomed.size == SIZE
    assert not np.array_equal(np.asarray(image), np.asarray(zoomed))


@pytest.mark.parametrize("size,dpi", [((64, 48), 72), ((333, 211), 100), ((500, 250), 150)])
def test_plot_renderers_give_exact_odd_sizes(size, dpi):
    for renderer, tensor in ((Signal(), np.sin(TIME / 9)), (Labels(), np.array([0.2, 0.8]))):
        assert renderer.render("", tensor, size, dpi).size == size


def test_bitmap_upscales_with_crisp_pixels():
    checker = np.indices((4, 4)).sum(axis=0) % 2  # 0/1 checkerboard
    image = np.asarray(Bitmap().render("", checker.astype(np.float32), (40, 40)))
    assert image.shape == (40, 40, 4)
    # 10x10 blocks of one colour each, only black and white (no interpolated greys).
    assert set(np.unique(image[..., 0])) == {0, 255}
    assert (image[:10, :10, 0] == 0).all() and (image[:10, 10:20, 0] == 255).all()


def test_bitmap_zoom_and_pan_show_the_expected_pixels():
    tensor = np.zeros((4, 4))
    tensor[0, 0] = 1.0  # top-left pixel white
    # Zoom 2 around the centre: the view covers pixels 1..2, the white pixel is out of view.
    zoomed = np.asarray(Bitmap().render("", tensor, (40, 40), scale=(2, 2)))
    assert (zoomed[..., 0] == 0).all()
    # Pan one pixel up-left: the white pixel is the view's top-left quarter.
    panned = np.asarray(Bitmap().render("", tensor, (40, 40), scale=(2, 2), shift=(-1, -1)))
    assert (panned[:20, :20, 0] == 255).all() and (panned[20:, :, 0] == 0).all()


def test_bitmap_fixed_range_clips_and_auto_range_stretches():
    tensor = np.array([[0.25, 0.5]])
    fixed = np.asarray(Bitmap(min_value=0, max_value=1).render("", tensor, (2, 1)))
    auto = np.asarray(Bitmap().render("", tensor, (2, 1)))
    assert fixed[0, :, 0].tolist() == [64, 128]
    assert auto[0, :, 0].tolist() == [0, 255]


def test_bitmap_colormap_is_applied_and_outside_is_transparent():
    image = np.asarray(Bitmap(colormap="viridis").render("", np.array([[0.0, 1.0]]), (20, 20)))
    # The 2x1 image fits in the middle band; above and below is transparent.
    assert image[0, 0, 3] == 0 and image[10, 0, 3] == 255
    assert tuple(image[10, 0, :3]) == (68, 1, 84)  # viridis' first colour


def test_unknown_colormap_and_bad_shapes_raise_clear_errors():
    with pytest.raises(ValueError, match="colormap 'nope'"):
        Bitmap(colormap="nope")
    with pytest.raises(ValueError, match=r"1, 3 or 4 channels, got shape \(2, 4, 4\)"):
        Bitmap().render("", np.zeros((2, 4, 4)), SIZE)
    with pytest.raises(ValueError, match="L or CxL"):
        Signal().render("", np.zeros((2, 3, 4)), SIZE)
    with pytest.raises(ValueError, match="Nx4"):
        BoundingBox().render("", np.zeros((3, 2)), SIZE)


def test_signal_pan_changes_output_and_long_signals_stay_drawable():
    signal = np.sin(np.arange(200_000) / 500)
    renderer = Signal()
    base = np.asarray(renderer.render("", signal, SIZE, scale=(4, 1)))
    panned = np.asarray(renderer.render("", signal, SIZE, scale=(4, 1), shift=(30_000, 0)))
    assert not np.array_equal(base, panned)


def test_labels_highlight_target_green_and_wrong_prediction_red():
    def has(image, rgb):
        pixels = np.asarray(image.convert("RGB")).reshape(-1, 3).astype(int)
        return bool((np.abs(pixels - rgb).sum(axis=1) < 30).any())

    green, red = (44, 160, 44), (214, 39, 40)  # matplotlib tab:green, tab:red
    probabilities = np.array([0.1, 0.7, 0.2])
    wrong = Labels().render("", probabilities, SIZE, target_tensor=np.array(2))
    assert has(wrong, green) and has(wrong, red)
    right = Labels().render("", probabilities, SIZE, target_tensor=np.array(1))
    assert has(right, green) and not has(right, red)
    plain = Labels().render("", probabilities, SIZE)
    assert not has(plain, green) and not has(plain, red)
    index_wrong = Labels().render("", np.array(0), SIZE, target_tensor=np.array(1))
    assert has(index_wrong, red) and has(index_wrong, green)


def test_bounding_boxes_are_drawn_over_the_input_image():
    image = np.zeros((1, 20, 20))
    boxes = np.array([[5, 5, 15, 15]])
    rendered = np.asarray(BoundingBox().render("", boxes, (20, 20), input_tensors=[image]))
    assert tuple(rendered[5, 10, :3]) == (255, 210, 0)  # box outline, unclassified colour
    assert tuple(rendered[10, 10, :3]) == (128, 128, 128)  # inside: the flat (grey) image
    low_score = np.array([[5, 5, 15, 15, 0, 0.1]])
    hidden = BoundingBox(score_threshold=0.5).render("", low_score, (20, 20), input_tensors=[image])
    assert colours(hidden) == 1
