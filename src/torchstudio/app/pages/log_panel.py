"""The log panel: worker output and app messages, as they come."""

from __future__ import annotations

from nicegui import ui

from torchstudio.app.pages.live import Live
from torchstudio.app.store.logbook import format_line
from torchstudio.app.studio import Studio


def log_panel(studio: Studio, live: Live) -> None:
    with ui.expansion("Log", icon="terminal").classes("w-full").mark("log-panel"):
        view = ui.log(max_lines=1000).classes("w-full h-48 text-xs").mark("log")
    shown = {"version": studio.log.version - len(studio.log.lines)}

    def push(version: int) -> None:
        for entry in studio.log.since(shown["version"]):
            view.push(format_line(entry))
        shown["version"] = version

    live.watch(["log"], push, lambda: studio.log.version)
