"""The page: header, the tabs (Dataset now; the Model and Dashboard tabs plug in here), log."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from nicegui import ui

from torchstudio.app.pages.analysis_panel import analysis_panel
from torchstudio.app.pages.dashboard_tab import dashboard_tab
from torchstudio.app.pages.dataset_settings import settings_panel
from torchstudio.app.pages.dataset_source import source_panel
from torchstudio.app.pages.header import header
from torchstudio.app.pages.layout import (
    LEFT_COLUMN,
    PAGE_HEAD,
    PRIMARY,
    RIGHT_COLUMN,
    TWO_COLUMNS,
)
from torchstudio.app.pages.live import Live
from torchstudio.app.pages.log_panel import log_panel
from torchstudio.app.pages.model_tab import models_tab
from torchstudio.app.pages.navigation import Navigation
from torchstudio.app.pages.sample_browser import ZOOM_SCRIPT, sample_browser
from torchstudio.app.studio import Studio

# (tab name, builder) of the tabs after Dataset.
TabBuilder = Callable[[Studio, Live, Navigation], None]
TABS: list[tuple[str, TabBuilder]] = [("Models", models_tab), ("Dashboard", dashboard_tab)]


def dataset_tab(studio: Studio, live: Live, navigation: Navigation) -> None:
    dataset = studio.dataset
    if dataset is None:
        ui.label("Open or create a project (Project menu).")
        return
    with ui.row().classes(TWO_COLUMNS):
        with ui.column().classes(LEFT_COLUMN):
            source_panel(dataset, studio.desk, live)
        with ui.column().classes(RIGHT_COLUMN):
            settings_panel(dataset, live)
            sample_browser(dataset, live, studio.salt)
            analysis_panel(dataset, live, studio.salt)


def main_page(studio: Studio, address: Mapping[str, str] | None = None, theme: str = "") -> None:
    """The page; `address` is its query (the tab and model to show), `theme` the remembered one."""
    ui.add_head_html(ZOOM_SCRIPT + PAGE_HEAD)
    ui.colors(primary=PRIMARY)
    live = Live.for_page(studio.changes)
    header(studio, live, theme)
    tabs_spec = [("Dataset", dataset_tab), *TABS]
    names = [name for name, _ in tabs_spec]
    with ui.tabs().classes("w-full") as tabs:
        handles = [ui.tab(name).mark(f"tab-{name.lower()}") for name in names]
    shown = shown_tab((address or {}).get("tab"), names)
    navigation = Navigation(tabs, requested_model=(address or {}).get("model"))
    tabs.on_value_change(lambda e: navigation.remember(tab=str(e.value).lower()))
    # No slide animation: a tab shows at once (Quasar's slide adds 300 ms to every switch).
    with ui.tab_panels(tabs, value=handles[names.index(shown)], animated=False).classes("w-full"):
        for handle, (_, build) in zip(handles, tabs_spec, strict=True):
            with ui.tab_panel(handle):
                build(studio, live, navigation)
    log_panel(studio, live)
    # Another project was opened, or this one trusted (here or in another tab): draw it anew.
    live.watch(["project"], lambda _: ui.navigate.reload(), now=False)


def shown_tab(asked: str | None, names: list[str]) -> str:
    """The tab the address asks for (`?tab=models`), or the first one."""
    return next((name for name in names if name.lower() == (asked or "").lower()), names[0])
