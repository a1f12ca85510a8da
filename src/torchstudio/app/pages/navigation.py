"""Moving around one page: show a tab, open a model's tab (from the Dashboard, say)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from nicegui import ui


@dataclass
class Navigation:
    """The page's tabs, and the Models tab's way to open a model (set once it is drawn)."""

    tabs: ui.tabs
    open_model: Callable[[str | None], None] | None = None

    def show_dataset(self) -> None:
        self.tabs.set_value("Dataset")

    def show_model(self, name: str) -> None:
        if self.open_model is not None:
            self.open_model(name)
            self.tabs.set_value("Models")
