"""The header: the open project, New / Open / Save As / recent projects, and Servers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from nicegui import ui

from torchstudio.app.pages.live import Live
from torchstudio.app.pages.servers_dialog import servers_dialog
from torchstudio.app.pages.theme import theme_toggle
from torchstudio.app.pages.trust_banner import trust_banner
from torchstudio.app.store import recent
from torchstudio.app.store.project import ProjectError
from torchstudio.app.studio import Studio


def path_dialog(
    title: str, action: str, run: Callable[[str], Awaitable[None]], with_recent: bool = False
) -> ui.dialog:
    """A dialog asking for a project path on the app's machine, then running `run(path)`."""
    with ui.dialog() as dialog, ui.card().classes("w-[36rem]"):
        ui.label(title).classes("text-h6")
        path = ui.input("Project file (.tsproj)").classes("w-full").mark(f"{action}-path")
        error = ui.label().classes("text-negative text-sm whitespace-pre-wrap")

        async def submit(value: str | None = None) -> None:
            try:
                await run(value or path.value or "")
            except (ProjectError, OSError, KeyError) as exc:
                error.set_text(str(exc))
                return
            dialog.close()

        if with_recent:
            for entry in recent.recent_projects():
                ui.button(entry, on_click=lambda e=entry: submit(e)).props("flat dense no-caps")
        with ui.row().classes("w-full justify-end"):
            ui.button("Cancel", on_click=dialog.close).props("flat")
            ui.button(action.capitalize(), on_click=lambda: submit()).mark(f"{action}-submit")
    return dialog


def header(studio: Studio, live: Live, theme: str = "") -> None:
    project = studio.project
    with ui.header().classes("items-center gap-x-4 gap-y-0 bg-primary flex-wrap"):
        ui.label("TorchStudio").classes("text-h6")
        path = str(project.path) if project else "no project open"
        ui.label(path).classes("text-sm min-w-0 break-all").mark("project-path")
        ui.space()
        theme_toggle(theme)
        # Each dialog is drawn when first asked for: four dialogs in every page build cost a
        # third of it, and most pages never open one.
        holder = ui.element()
        dialogs: dict[str, ui.dialog] = {}

        def opener(
            title: str, action: str, run: Callable[[str], Awaitable[None]], **kw: bool
        ) -> Callable[[], None]:
            def open_dialog() -> None:
                if action not in dialogs:
                    with holder:
                        dialogs[action] = path_dialog(title, action, run, **kw)
                dialogs[action].open()

            return open_dialog

        menu_button = ui.button(icon="folder", text="Project").props("flat color=white")
        with menu_button.mark("project-menu"), ui.menu():
            ui.menu_item("New...", on_click=opener("New project", "create", studio.new)).mark(
                "menu-create"
            )
            ui.menu_item(
                "New demo project...",
                on_click=opener(
                    "New demo project", "create-demo", lambda p: studio.new(p, demo=True)
                ),
            ).mark("menu-create-demo")
            ui.menu_item(
                "Open...",
                on_click=opener("Open a project", "open", studio.open, with_recent=True),
            ).mark("menu-open")
            ui.menu_item(
                "Save as...", on_click=opener("Save the project as", "save-as", studio.save_as)
            ).mark("menu-save-as")

        def open_servers() -> None:
            if "servers" not in dialogs:
                with holder:
                    dialogs["servers"] = servers_dialog(studio.desk, live)
            dialogs["servers"].open()

        ui.button("Servers", icon="dns", on_click=open_servers).props(
            "flat color=white data-ts=servers-open"
        ).mark("servers-open")
        ui.label("Changes are saved as you make them").classes("text-xs max-md:hidden")
    trust_banner(studio)
