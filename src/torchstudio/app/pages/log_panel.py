"""The log panel: what the user did and what came of it, and on demand the workers' output."""

from __future__ import annotations

from nicegui import ui

from torchstudio.app.pages.live import Live
from torchstudio.app.store.logbook import format_line, shown_at
from torchstudio.app.studio import Studio


def log_panel(studio: Studio, live: Live) -> None:
    with ui.expansion("Log", icon="terminal").classes("w-full").mark("log-panel"):
        everything = ui.switch("workers' output too").props("dense data-ts=log-everything")
        everything.mark("log-everything")
        view = ui.log(max_lines=1000).classes("w-full h-48 text-xs").mark("log")
    shown = {"version": studio.log.version - len(studio.log.lines)}

    def push(version: int) -> None:
        for entry in studio.log.since(shown["version"]):
            if shown_at(entry, bool(everything.value)):
                view.push(format_line(entry))
        shown["version"] = version

    def redraw() -> None:
        view.clear()
        shown["version"] = studio.log.version - len(studio.log.lines)
        push(studio.log.version)

    everything.on_value_change(lambda _: redraw())
    live.watch(["log"], push, lambda: studio.log.version)
