"""The header: the open project, New / Open / Save As / recent projects, and Servers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from nicegui import ui

from torchstudio.app.pages.live import Live
from torchstudio.app.pages.servers_dialog import servers_dialog
from torchstudio.app.pages.theme import theme_toggle
from torchstudio.app.pages.trust_banner import trust_banner
from torchstudio.app.store import recent
from torchstudio.app.store.browse import list_folder, start_folder
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
            recent_list = recent.recent_projects()
            if recent_list:
                ui.label("Recent projects").classes("text-subtitle2")
            for entry in recent_list:
                ui.button(entry, on_click=lambda e=entry: submit(e)).props("flat dense no-caps")
            folder_browser(start_folder(recent_list), path, submit)
        with ui.row().classes("w-full justify-end"):
            ui.button("Cancel", on_click=dialog.close).props("flat")
            ui.button(action.capitalize(), on_click=lambda: submit()).mark(f"{action}-submit")
    return dialog


def folder_browser(start: Path, path: ui.input, submit: Callable[[str], Awaitable[None]]) -> None:
    """A folder's sub-folders and project files: a click goes in, or opens the project."""
    ui.label("Browse").classes("text-subtitle2")
    where = ui.label().classes("text-sm break-all").props("data-ts=browse-folder")
    entries = ui.column().classes("w-full gap-0 max-h-64 overflow-auto border rounded")
    entries.props("data-ts=browse-entries")

    def show(folder: Path) -> None:
        listing = list_folder(folder)
        where.set_text(str(listing.folder))
        entries.clear()
        with entries:
            if listing.parent is not None:
                up = ui.button("..", icon="arrow_upward", on_click=lambda: show(listing.parent))
                up.props('flat dense no-caps align=left aria-label="parent folder"')
            for name in listing.folders:
                inside = listing.folder / name
                ui.button(name, icon="folder", on_click=lambda p=inside: show(p)).props(
                    "flat dense no-caps align=left"
                ).mark(f"browse-folder-{name}")
            for name in listing.projects:
                chosen = str(listing.folder / name)

                async def pick(p: str = chosen) -> None:
                    path.set_value(p)
                    await submit(p)

                ui.button(name, icon="description", on_click=pick).props(
                    "flat dense no-caps align=left color=primary"
                ).mark(f"browse-project-{name}")
            if listing.error or listing.cut:
                shown = (
                    listing.error
                    or f"only the first {len(listing.folders) + len(listing.projects)} entries"
                )
                ui.label(shown).classes("text-sm text-negative")
            elif not listing.folders and not listing.projects:
                ui.label("no folders or projects here").classes("text-sm ts-hint")

    show(start)


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
