"""Bounding boxes renderer: boxes drawn over the input image."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from torchstudio.modules import Renderer
from torchstudio.renderers._drawing import colormap_lut, to_rgba, view_image

TARGET_COLOR = (40, 200, 40, 255)
UNCLASSIFIED_COLOR = (255, 210, 0, 255)
BACKGROUND = (40, 40, 40, 255)


class BoundingBox(Renderer):
    """Render boxes (Nx4: x1, y1, x2, y2 in pixels) over the image in `input_tensors[0]`.

    A fifth column is the class index (named from `labels`, one colour per class) and a
    sixth the score. Empty or inverted boxes (x2 <= x1 or y2 <= y1, such as zero padding)
    are skipped. A `target_tensor` of boxes is drawn in green beneath. Without an input
    image, the boxes are drawn on a dark canvas just large enough to hold them.

    Args:
        line_width: box outline width, in output pixels.
        score_threshold: boxes with a lower score (sixth column) are not drawn.
        show_labels: write the class name (and score) above each box.
        colormap: matplotlib colormap for a single-channel input image.

    Zoom and pan as with Bitmap: scale[0] zooms, shift[0], shift[1] pan in image pixels.
    """

    def __init__(
        self,
        line_width: int = 2,
        score_threshold: float = 0.0,
        show_labels: bool = True,
        colormap: str = "gray",
    ) -> None:
        colormap_lut(colormap)  # fail early on an unknown name
        self.line_width = line_width
        self.score_threshold = score_threshold
        self.show_labels = show_labels
        self.colormap = colormap

    def render(
        self,
        title: str,
        tensor: np.ndarray,
        size: tuple[int, int],
        dpi: int = 100,
        shift: Sequence[float] = (0, 0, 0, 0),
        scale: Sequence[float] = (1, 1, 1, 1),
        input_tensors: Sequence[np.ndarray] = (),
        target_tensor: np.ndarray | None = None,
        labels: Sequence[str] = (),
    ) -> Image.Image:
        boxes = _as_boxes(tensor)
        targets = _as_boxes(target_tensor) if target_tensor is not None else boxes[:0]
        if len(input_tensors):
            pixels = to_rgba(input_tensors[0], self.colormap)
        else:
            extent = np.concatenate([boxes[:, 2:4], targets[:, 2:4]], axis=0)
            width, height = np.ceil(extent.max(axis=0)).astype(int) if extent.size else (1, 1)
            pixels = np.empty((max(int(height), 1), max(int(width), 1), 4), dtype=np.uint8)
            pixels[:] = BACKGROUND
        image, (factor, origin_x, origin_y) = view_image(pixels, size, shift, scale)
        draw = ImageDraw.Draw(image)
        font = ImageFont.load_default(size=max(8, round(11 * dpi / 100)))

        def to_output(box: np.ndarray) -> list[float]:
            return [
                (box[0] - origin_x) * factor,
                (box[1] - origin_y) * factor,
                (box[2] - origin_x) * factor,
                (box[3] - origin_y) * factor,
            ]

        for box in targets:
            if _is_drawable(box):
                draw.rectangle(to_output(box), outline=TARGET_COLOR, width=self.line_width)
        for box in boxes:
            if not _is_drawable(box):
                continue
            if box.size > 5 and box[5] < self.score_threshold:
                continue
            color = _class_color(int(box[4])) if box.size > 4 else UNCLASSIFIED_COLOR
            corners = to_output(box)
            draw.rectangle(corners, outline=color, width=self.line_width)
            if self.show_labels and box.size > 4:
                self._draw_caption(draw, font, corners, box, color, labels)
        return image

    @staticmethod
    def _draw_caption(draw, font, corners, box, color, labels: Sequence[str]) -> None:
        index = int(box[4])
        text = str(labels[index]) if 0 <= index < len(labels) else str(index)
        if box.size > 5:
            text += f" {box[5]:.2f}"
        left, top = corners[0], corners[1]
        bounds = draw.textbbox((left, top), text, font=font, anchor="ld")
        draw.rectangle(bounds, fill=color)
        draw.text((left, top), text, fill=(0, 0, 0, 255), font=font, anchor="ld")


def _as_boxes(tensor: np.ndarray) -> np.ndarray:
    boxes = np.asarray(tensor, dtype=np.float64)
    if boxes.size == 0:
        return np.zeros((0, 4))
    if boxes.ndim == 1 and boxes.size >= 4:
        boxes = boxes[np.newaxis]
    if boxes.ndim != 2 or boxes.shape[1] < 4:
        raise ValueError(
            "Expected boxes of shape Nx4 (x1, y1, x2, y2), optionally with class and score "
            f"columns, got shape {tuple(np.shape(tensor))}"
        )
    return boxes


def _is_drawable(box: np.ndarray) -> bool:
    return bool(np.all(np.isfinite(box[:4])) and box[2] > box[0] and box[3] > box[1])


def _class_color(index: int) -> tuple[int, int, int, int]:
    red, green, blue, _ = matplotlib.colormaps["tab10"](index % 10)
    return round(red * 255), round(green * 255), round(blue * 255), 255
