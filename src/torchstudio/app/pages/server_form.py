"""The Servers dialog's add/edit form: an entry's fields, and its secrets (memory only)."""

from __future__ import annotations

from collections.abc import Callable

from nicegui import ui

from torchstudio.app.runtime.server_desk import ServerDesk
from torchstudio.app.runtime.server_status import EntryForm

LOGINS = {"key": "key file", "password": "password"}


def server_form(desk: ServerDesk, original: str | None, done: Callable[[], None]) -> None:
    """The form for a new server (`original` None) or for server `original`; `done` closes it."""
    form = EntryForm.of(desk.entry(original)) if original else EntryForm()
    title = f"Edit {original}" if original else "Add a server"
    with ui.card().classes("w-full").props("flat bordered data-ts=server-form"):
        ui.label(title).classes("text-subtitle1")
        with ui.grid(columns=3).classes("w-full gap-x-3 gap-y-0"):
            name = ui.input("name", value=form.name).props("dense data-ts=server-name")
            host = ui.input("host", value=form.host).props("dense data-ts=server-host")
            port = ui.input("SSH port", value=form.port).props("dense data-ts=server-port")
            user = ui.input("user", value=form.user).props("dense data-ts=server-user")
            python = ui.input("Python on the server", value=form.python)
            python.props("dense data-ts=server-python").tooltip(
                "python3, a full path, or ~/venv/bin/python"
            )
            folder = ui.input("folder on the server", value=form.remote_dir)
            folder.props("dense data-ts=server-folder").tooltip(
                "where the uploaded package versions go (relative to the home folder)"
            )
        login = ui.radio(LOGINS, value=form.login).props("inline dense data-ts=server-login")
        with ui.row().classes("w-full gap-3"):
            key_file = ui.input("key file", value=form.key_file).classes("w-72")
            key_file.props("dense data-ts=server-key")
            passphrase = ui.input("key passphrase (if encrypted)", password=True)
            passphrase.props("dense data-ts=server-passphrase").classes("w-56")
            password = ui.input("password", password=True).classes("w-56")
            password.props("dense data-ts=server-password")
        hint = "kept in memory only" + (": leave empty to keep the one given" if original else "")
        note = f"Passwords and passphrases are {hint}; after a restart the app asks again."
        ui.label(note).classes("text-xs ts-hint")

        def show_login(kind: str) -> None:
            key_file.set_visibility(kind == "key")
            passphrase.set_visibility(kind == "key")
            password.set_visibility(kind == "password")

        login.on_value_change(lambda e: show_login(e.value))
        show_login(form.login)
        error = ui.label().classes("text-sm text-negative").props("data-ts=server-form-error")

        def save() -> None:
            typed = EntryForm(
                name.value or "",
                host.value or "",
                str(port.value or ""),
                user.value or "",
                login.value,
                key_file.value or "",
                python.value or "",
                folder.value or "",
            )
            secret_key = passphrase.value if login.value == "key" else ""
            secret_password = password.value if login.value == "password" else ""
            try:
                desk.save(typed, secret_password or "", secret_key or "", original)
            except ValueError as exc:
                error.set_text(str(exc))
                return
            done()

        with ui.row().classes("w-full justify-end"):
            ui.button("Cancel", on_click=done).props("flat")
            ui.button("Save", on_click=save).props("data-ts=server-save")
