"""The page: header, the tabs (Dataset now; the Model and Dashboard tabs plug in here), log."""

from __future__ import annotations

from collections.abc import Callable

from nicegui import ui

from torchstudio.app.pages.analysis_panel import analysis_panel
from torchstudio.app.pages.dashboard_tab import dashboard_tab
from torchstudio.app.pages.dataset_settings import settings_panel
from torchstudio.app.pages.dataset_source import source_panel
from torchstudio.app.pages.header import header
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
    with ui.row().classes("w-full no-wrap items-start gap-4"):
        with ui.column().classes("w-[44%] min-w-[420px]"):
            source_panel(dataset, studio.desk, live)
        with ui.column().classes("grow"):
            settings_panel(dataset, live)
            sample_browser(dataset, live, studio.salt)
            analysis_panel(dataset, live, studio.salt)


def main_page(studio: Studio) -> None:
    ui.add_head_html(ZOOM_SCRIPT)
    live = Live.for_page(studio.changes)
    header(studio, live)
    tabs_spec = [("Dataset", dataset_tab), *TABS]
    with ui.tabs().classes("w-full") as tabs:
        handles = [ui.tab(name).mark(f"tab-{name.lower()}") for name, _ in tabs_spec]
    navigation = Navigation(tabs)
    # No slide animation: a tab shows at once (Quasar's slide adds 300 ms to every switch).
    with ui.tab_panels(tabs, value=handles[0], animated=False).classes("w-full"):
        for handle, (_, build) in zip(handles, tabs_spec, strict=True):
            with ui.tab_panel(handle):
                build(studio, live, navigation)
    log_panel(studio, live)
    # Another project was opened, or this one trusted (here or in another tab): draw it anew.
    live.watch(["project"], lambda _: ui.navigate.reload(), now=False)
