"""Moving around one page: show a tab, open a model's tab (from the Dashboard, say), and
keep both in the page's address so that a reload shows them again."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from nicegui import ui

# Sets (or removes, for an empty value) query parameters without a reload or a history entry.
REMEMBER_SCRIPT = """(() => {{
  const address = new URL(window.location.href);
  for (const [key, value] of Object.entries({values})) {{
    if (value) address.searchParams.set(key, value); else address.searchParams.delete(key);
  }}
  window.history.replaceState(window.history.state, '', address);
}})()"""


@dataclass
class Navigation:
    """The page's tabs, and the Models tab's way to open a model (set once it is drawn).

    `requested_model` is the model the address asked for (`?model=NAME`).
    """

    tabs: ui.tabs
    open_model: Callable[[str | None], None] | None = None
    requested_model: str | None = None

    def show_dataset(self) -> None:
        self.tabs.set_value("Dataset")

    def show_model(self, name: str) -> None:
        if self.open_model is not None:
            self.open_model(name)
            self.tabs.set_value("Models")

    def remember(self, **values: str | None) -> None:
        """Write `values` (tab=..., model=...) into the page's address."""
        ui.run_javascript(REMEMBER_SCRIPT.format(values=json.dumps(values)))
