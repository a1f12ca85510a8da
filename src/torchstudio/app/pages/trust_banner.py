"""The banner of a project received from elsewhere: its code, and the button to trust it."""

from __future__ import annotations

from nicegui import ui

from torchstudio.app.studio import Studio


def trust_banner(studio: Studio) -> None:
    """Shown while the open project is untrusted: lists its code; trusting asks first."""
    if studio.trusted or studio.project is None:
        return
    with ui.dialog() as confirm, ui.card().classes("w-[36rem]"):
        ui.label("Trust this project?").classes("text-h6")
        ui.label(
            "Its code will run on this machine with your rights when you Load, Build or "
            "Train. Trust only a project whose author you trust, or whose code you have read."
        )
        with ui.row().classes("w-full justify-end"):
            ui.button("Cancel", on_click=confirm.close).props("flat")

            def trust() -> None:
                confirm.close()
                studio.trust_project()  # the page reloads, without this banner

            ui.button("Trust", color="negative", on_click=trust).mark("trust-confirm")
    with ui.card().classes("w-full bg-amber-1 ts-trust-banner").mark("trust-banner"):
        ui.label(
            "This project was not created or trusted on this machine, and it contains code. "
            "Nothing of it has run: it runs only when you ask (Load, Build, Train), once you "
            "trust the project."
        ).classes("text-weight-medium")
        with ui.column().classes("gap-0 text-sm font-mono ts-trust-parts").mark("trust-code-parts"):
            for line in studio.untrusted_code:
                ui.label(line)
        ui.button("Trust and allow its code...", icon="gpp_maybe", on_click=confirm.open).mark(
            "trust-open"
        )
