"""The Servers dialog (from the header): each machine's state, Check, host keys, Install.

The page only lays things out: the state and the actions are `ServerDesk`'s, and the
dialog is drawn again when the desk announces a change ("servers").
"""

from __future__ import annotations

from typing import Any

from nicegui import background_tasks, ui

from torchstudio.app.pages.live import Live
from torchstudio.app.pages.server_form import server_form
from torchstudio.app.pages.server_install import install_panel
from torchstudio.app.runtime.server_desk import ServerDesk
from torchstudio.app.runtime.server_status import (
    COLOURS,
    HERE,
    KEEP_PACKAGE_VERSIONS,
    ServerStatus,
    report_rows,
    size_text,
)
from torchstudio.remote.hostkeys import host_pattern

COLUMNS = [
    {"name": "item", "label": "", "field": "item", "align": "left"},
    {"name": "found", "label": "found", "field": "found", "align": "left"},
    {"name": "needed", "label": "needed", "field": "needed", "align": "left"},
    {"name": "state", "label": "", "field": "state", "align": "left"},
]
WITH_INSTALL = ("ready", "packages missing", "installing")


def host_key_panel(desk: ServerDesk, name: str, status: ServerStatus) -> None:
    if status.kind == "host key unknown" and status.fingerprint:
        ui.label(status.text).classes("text-sm whitespace-pre-wrap")
        ui.label(status.fingerprint).classes("font-mono").props("data-ts=server-fingerprint")
        fingerprint = status.fingerprint
        with ui.row():
            ui.button(
                "Accept", on_click=lambda: background_tasks.create(desk.accept(name, fingerprint))
            ).props("data-ts=server-accept")
            ui.button("Reject", on_click=lambda: desk.reject(name)).props(
                "flat color=negative data-ts=server-reject"
            )
    elif status.kind == "host key changed":
        ui.label(status.text).classes("text-sm text-negative whitespace-pre-wrap")
        entry = desk.entry(name)
        known = desk.servers.known_hosts
        lines = "\n".join(status.remove_lines)
        command = f"ssh-keygen -R '{host_pattern(entry.host, entry.port)}' -f {known}"
        ui.label(f"The line to remove from {known}:\n{lines}\n(or run: {command})").classes(
            "font-mono text-xs whitespace-pre-wrap"
        ).props("data-ts=server-remove-line")


def secret_panel(desk: ServerDesk, name: str) -> None:
    what = "key passphrase" if desk.entry(name).key_file else "password"
    with ui.row().classes("items-center gap-2"):
        secret = ui.input(what, password=True).props("dense data-ts=server-secret")

        async def use() -> None:
            desk.give_secret(name, secret.value or "")
            await desk.check(name)

        ui.button("Use and check", on_click=use).props("flat data-ts=server-secret-use")


def machine_card(desk: ServerDesk, live: Live, name: str, draft: dict[str, Any], edit: Any) -> None:
    status = desk.status(name)
    title = "this machine" if name == HERE else name
    with ui.card().classes("w-full").props("flat bordered data-ts=server-row") as card:
        card._props["data-name"] = title  # any name, quotes included: not parsed as props
        with ui.row().classes("w-full items-center gap-3 no-wrap"):
            ui.label(title).classes("text-subtitle1")
            if name != HERE:
                ui.label(desk.entry(name).label).classes("text-xs ts-hint")
            ui.badge(status.kind, color=COLOURS[status.kind]).props("data-ts=server-state")
            ui.label(status.label).classes("text-sm grow ellipsis").props("data-ts=server-text")
            ui.button("Check", on_click=lambda: background_tasks.create(desk.check(name))).props(
                "flat dense data-ts=server-check"
            )
            if name != HERE:
                ui.button("Edit", on_click=lambda: edit(name)).props(
                    "flat dense data-ts=server-edit"
                )
                ui.button(
                    "Remove", on_click=lambda: background_tasks.create(desk.remove(name))
                ).props("flat dense color=negative data-ts=server-remove")
        host_key_panel(desk, name, status)
        if status.kind == "secret needed":
            secret_panel(desk, name)
        if status.kind in ("unreachable", "connection lost") and status.text:
            ui.label(status.text).classes("text-sm text-negative whitespace-pre-wrap")
        if status.space is not None:
            ui.label(
                f"uploaded TorchStudio packages: {size_text(status.space)} "
                f"(the newest {KEEP_PACKAGE_VERSIONS} versions are kept)"
            ).classes("text-xs ts-hint").props("data-ts=server-space")
        if status.report or name in desk.jobs:
            environment(desk, live, name, status, draft)


def environment(
    desk: ServerDesk, live: Live, name: str, status: ServerStatus, draft: dict[str, Any]
) -> None:
    """The check's table, the space used and Install; folded once the machine is ready."""
    rows = report_rows(status.report)
    needed = [row for row in rows if row["state"] in ("missing", "too old")]
    title = f"environment: {len(needed)} to install" if needed else "environment: all found"
    unfolded = bool(needed) or name in desk.jobs
    with ui.expansion(title, value=unfolded).classes("w-full").props("dense"):
        table = ui.table(columns=COLUMNS, rows=rows, row_key="item")
        table.props("dense flat data-ts=server-report").classes("w-full")
        if status.kind in WITH_INSTALL or name in desk.jobs:
            install_panel(desk, live, name, draft.setdefault(name, {}))


def servers_dialog(desk: ServerDesk, live: Live) -> ui.dialog:
    """The dialog; drawn once per page, when first opened."""
    drafts: dict[str, dict[str, Any]] = {}  # what the user typed in Install, per machine
    editing: dict[str, Any] = {"open": False, "name": None}

    with ui.dialog() as dialog, ui.card().classes("w-[72rem] max-w-[95vw]") as card:
        card.props("data-ts=servers-dialog")
        with ui.row().classes("w-full items-center"):
            ui.label("Servers").classes("text-h6")
            ui.space()
            ui.button("Add a server", icon="add", on_click=lambda: edit(None)).props(
                "flat data-ts=server-add"
            )
            ui.button(icon="close", on_click=dialog.close).props("flat round dense")
        ui.label(
            "Load data and train on a GPU server over SSH. Check logs in and checks its Python; "
            "Install runs pip there."
        ).classes("text-sm ts-hint")

        @ui.refreshable
        def form() -> None:
            if editing["open"]:
                server_form(desk, editing["name"], close_form)

        @ui.refreshable
        def machines() -> None:
            scope = live.scope("servers-dialog")
            for name in [HERE, *desk.names()]:
                machine_card(desk, scope, name, drafts, edit)

        def edit(name: str | None) -> None:
            editing.update(open=True, name=name)
            form.refresh()

        def close_form() -> None:
            editing.update(open=False, name=None)
            form.refresh()

        form()
        machines()

    def signature() -> Any:
        names = [HERE, *desk.names()]
        return [(n, desk.status(n), n in desk.jobs) for n in names]

    live.watch(["servers"], lambda _: machines.refresh(), signature, now=False)
    return dialog
