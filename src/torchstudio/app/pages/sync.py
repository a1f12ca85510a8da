"""Keeping a page in step with the app's state: watch values, redraw what changed.

State lives in the services; every page polls cheap signatures (version numbers, small
tuples) ten times a second and redraws only the parts whose signature changed, so a page
reload or a second tab shows the same state, and worker events reach every open page.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nicegui import ui

INTERVAL = 0.1
_UNSET = object()


class Watcher:
    """Calls `on_change(value)` whenever `signature()` returns something new."""

    def __init__(self) -> None:
        self._watches: list[list[Any]] = []
        self.shared: dict[str, Any] = {}  # this page's hooks between tabs (open a model...)
        self.timer = ui.timer(INTERVAL, self.check)

    def watch(
        self, signature: Callable[[], Any], on_change: Callable[[Any], None], now: bool = True
    ) -> None:
        # Without `now`, the current value counts as already drawn.
        entry = [signature, on_change, _UNSET if now else signature()]
        self._watches.append(entry)
        if now:
            self._run(entry)

    def _run(self, entry: list[Any]) -> None:
        signature, on_change, last = entry
        value = signature()
        if value != last:
            entry[2] = value
            on_change(value)

    def check(self) -> None:
        for entry in list(self._watches):
            self._run(entry)
