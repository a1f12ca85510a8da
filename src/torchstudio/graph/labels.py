"""What a graph node shows: its texts, colours, tooltip and an estimate of its size.

Sizes are estimated from character counts (no font metrics are available without a
browser); the estimate errs on the wide side so that text never overflows its box.
"""

from __future__ import annotations

from typing import Any

FONT_FAMILY = "Segoe UI, Helvetica, Arial, sans-serif"
TITLE_FONT = 12  # px, bold
SUBTITLE_FONT = 11  # px
MAX_CHARS = 40  # longer texts are cut in the box; the tooltip keeps them whole
PADDING = 12  # px on each side of the text
MIN_WIDTH = 56
HEIGHT_ONE_LINE = 26
HEIGHT_TWO_LINES = 38

# (fill, stroke) per node kind: inputs and outputs stand out, modules vs functions differ.
COLOURS = {
    "input": ("#d8f0d2", "#4c9a3f"),
    "output": ("#fde2c4", "#c9792b"),
    "module": ("#d9e6f7", "#4a78b5"),
    "function": ("#ece0f5", "#8a5bb0"),
    "method": ("#f1f1f1", "#7d7d7d"),
}
DEFAULT_COLOURS = ("#f1f1f1", "#7d7d7d")


def _dim(value: Any) -> str:
    return "?" if value is None else str(value)


def shape_text(shape: Any) -> str:
    """Shape text: "1×32×8×8" for one shape, "(1×10, 1×4)" for several, "" when unknown."""
    if shape is None:
        return ""
    if not isinstance(shape, (list, tuple)):
        return str(shape)
    if not shape:
        return "scalar"
    if all(isinstance(item, (list, tuple)) or item is None for item in shape):
        return "(" + ", ".join(shape_text(item) or "?" for item in shape) + ")"
    return "×".join(_dim(value) for value in shape)


def cut(text: str, limit: int = MAX_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def node_texts(node: dict[str, Any]) -> tuple[str, str]:
    """(title, subtitle): the op in bold, then the output shape (may be empty)."""
    title = str(node.get("op") or node.get("name") or "?")
    return cut(title), cut(shape_text(node.get("shape")))


def node_tooltip(node: dict[str, Any]) -> str:
    """Name, op, params and dtype, one per line (the SVG `<title>` of the node)."""
    lines = [str(node.get("name", ""))]
    op = node.get("op")
    if op and str(op) != lines[0]:
        lines.append(f"{node.get('kind', 'node')}: {op}")
    for key in ("params", "dtype"):
        if node.get(key):
            lines.append(f"{key}: {node[key]}")
    for shape in node.get("input_shapes") or []:
        lines.append(f"input: {shape_text(shape) or '?'}")
    shape = shape_text(node.get("shape"))
    if shape:
        lines.append(f"output: {shape}")
    if node.get("expandable"):
        lines.append("double-click: open its modules in place")
    if node.get("parent"):
        shift = "shift+" if node.get("expandable") else ""
        lines.append(f"{shift}double-click: close {node['parent']}")
    return "\n".join(lines)


def node_colours(node: dict[str, Any]) -> tuple[str, str]:
    return COLOURS.get(str(node.get("kind")), DEFAULT_COLOURS)


def node_size(node: dict[str, Any]) -> tuple[float, float]:
    """(width, height) of a node's box in pixels, from its texts."""
    title, subtitle = node_texts(node)
    # Average glyph widths of a sans-serif font, a little generous: bold 0.62 em, regular 0.56.
    text = max(len(title) * TITLE_FONT * 0.62, len(subtitle) * SUBTITLE_FONT * 0.56)
    width = max(MIN_WIDTH, round(text + 2 * PADDING))
    return float(width), float(HEIGHT_TWO_LINES if subtitle else HEIGHT_ONE_LINE)
