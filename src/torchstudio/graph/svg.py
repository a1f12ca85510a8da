"""A laid-out graph as a standalone SVG document (boxes, labels, tooltips, curved edges)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any
from xml.sax.saxutils import escape

from torchstudio.graph.labels import (
    FONT_FAMILY,
    SUBTITLE_FONT,
    TITLE_FONT,
    node_colours,
    node_texts,
    node_tooltip,
)
from torchstudio.graph.layout import Layout

EDGE_COLOUR = "#6b6b6b"
TEXT_COLOUR = "#202020"
SUBTEXT_COLOUR = "#505050"
# Characters XML 1.0 forbids even when escaped (names come from user code).
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def text(value: Any) -> str:
    """Text content safe inside an element."""
    return escape(_INVALID_XML.sub("\ufffd", str(value)))


def attr(value: Any) -> str:
    """A double-quoted attribute value, quotes and newlines escaped too."""
    return (
        '"' + escape(_INVALID_XML.sub("\ufffd", str(value)), {'"': "&quot;", "\n": "&#10;"}) + '"'
    )


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def edge_path(points: Sequence[tuple[float, float]], direction: str) -> str:
    """SVG path data: straight where an edge runs along the flow, else a cubic curve that
    leaves and enters each point along the flow (vertical for TB, horizontal for LR)."""
    if not points:
        return ""
    across = 0 if direction == "TB" else 1  # the coordinate that changes in a bend
    parts = [f"M{_num(points[0][0])},{_num(points[0][1])}"]
    for start, end in zip(points, points[1:], strict=False):
        if abs(start[across] - end[across]) < 0.5:
            parts.append(f"L{_num(end[0])},{_num(end[1])}")
            continue
        if direction == "TB":
            middle = (start[1] + end[1]) / 2
            controls = (start[0], middle, end[0], middle)
        else:
            middle = (start[0] + end[0]) / 2
            controls = (middle, start[1], middle, end[1])
        c = " ".join(_num(value) for value in controls)
        parts.append(f"C{c} {_num(end[0])},{_num(end[1])}")
    return " ".join(parts)


def render_svg(graph_layout: Layout, nodes: Sequence[dict[str, Any]]) -> str:
    """The SVG document of a layout of `nodes` (the same list the layout was made from)."""
    width, height = _num(graph_layout.width), _num(graph_layout.height)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family={attr(FONT_FAMILY)}>',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" '
        'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
        f'<path d="M0,0 L10,5 L0,10 z" fill="{EDGE_COLOUR}"/></marker></defs>',
        '<g class="edges" fill="none" stroke-width="1.3">',
    ]
    for route in graph_layout.routes:
        out.append(
            f'<path class="edge" d="{edge_path(route.points, graph_layout.direction)}" '
            f'stroke="{EDGE_COLOUR}" marker-end="url(#arrow)"/>'
        )
    out.append("</g>")
    out.append('<g class="nodes" text-anchor="middle">')
    for box in graph_layout.boxes:
        node = nodes[box.index]
        fill, stroke = node_colours(node)
        title, subtitle = node_texts(node)
        left, top = box.x - box.width / 2, box.y - box.height / 2
        # What the page may do with the node: open its module in place, or close the one
        # it is drawn inside (torchstudio.graph.view).
        marks = "".join(
            f" data-{mark}={attr(node[field])}"
            for mark, field in (("key", "key"), ("parent", "parent"))
            if node.get(field)
        )
        if node.get("expandable"):
            marks += ' data-expandable="1"'
        out.append(f'<g class="node" data-name={attr(box.name)}{marks}>')
        out.append(f"<title>{text(node_tooltip(node))}</title>")
        out.append(
            f'<rect x="{_num(left)}" y="{_num(top)}" width="{_num(box.width)}" '
            f'height="{_num(box.height)}" rx="6" fill="{fill}" stroke="{stroke}"/>'
        )
        # Baselines: one line centred, or two lines around the middle.
        title_y = box.y + 4 if not subtitle else box.y - 2
        out.append(
            f'<text x="{_num(box.x)}" y="{_num(title_y)}" font-size="{TITLE_FONT}" '
            f'font-weight="bold" fill="{TEXT_COLOUR}">{text(title)}</text>'
        )
        if subtitle:
            out.append(
                f'<text x="{_num(box.x)}" y="{_num(box.y + 12)}" font-size="{SUBTITLE_FONT}" '
                f'fill="{SUBTEXT_COLOUR}">{text(subtitle)}</text>'
            )
        out.append("</g>")
    out.append("</g></svg>")
    return "\n".join(out)
