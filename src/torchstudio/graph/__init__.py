"""Model graph drawing: labels, layered layout and SVG output, used by the graphdraw worker."""

from torchstudio.graph.layout import Box, Layout, Route, layout
from torchstudio.graph.order import count_crossings
from torchstudio.graph.svg import render_svg

__all__ = ["Box", "Layout", "Route", "count_crossings", "layout", "render_svg"]
