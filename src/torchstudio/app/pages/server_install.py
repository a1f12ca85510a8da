"""The Servers dialog's Install panel of one machine: what to install, pip's output, Cancel."""

from __future__ import annotations

from typing import Any

from nicegui import background_tasks, ui

from torchstudio.app.pages.live import Live
from torchstudio.app.runtime.server_desk import ServerDesk
from torchstudio.app.runtime.server_status import missing_specs
from torchstudio.pythoninstall import TORCH_BUILDS

SHOWN_LINES = 200  # pip lines drawn in the dialog (the desk keeps a few more)
# "" installs torch as listed (from PyPI); a build comes from PyTorch's own index.
TORCH_CHOICES = {"": "as listed", **{build: build for build in TORCH_BUILDS}}


def install_panel(desk: ServerDesk, live: Live, name: str, draft: dict[str, Any]) -> None:
    """`draft` keeps what the user typed across redraws of the dialog (per browser client)."""
    report = desk.status(name).report
    default = " ".join(missing_specs(report))
    with ui.row().classes("w-full items-center gap-3"):
        packages = ui.input("packages to install", value=draft.get("packages", default))
        packages.classes("grow").props("dense data-ts=install-packages")
        packages.on_value_change(lambda e: draft.__setitem__("packages", e.value or ""))
        links = ui.input("wheel folder (pip --find-links)", value=draft.get("links", ""))
        links.classes("w-72").props("dense data-ts=install-links")
        links.on_value_change(lambda e: draft.__setitem__("links", e.value or ""))
        torch = ui.select(TORCH_CHOICES, value=draft.get("torch", ""), label="torch build")
        torch.classes("w-40").props("dense data-ts=install-torch")
        torch.on_value_change(lambda e: draft.__setitem__("torch", e.value or ""))
        offline = ui.checkbox("no index (offline)", value=draft.get("offline", False))
        offline.props("dense data-ts=install-offline")
        offline.on_value_change(lambda e: draft.__setitem__("offline", bool(e.value)))
        install = ui.button("Install", icon="download").props("data-ts=install")
        cancel = ui.button("Cancel", icon="stop").props(
            "flat color=negative data-ts=install-cancel"
        )
    error = ui.label().classes("text-sm text-negative")
    progress = ui.linear_progress(show_value=False).props("indeterminate").classes("w-full")
    state = ui.label().classes("text-sm").props("data-ts=install-state")
    output = ui.label().classes("whitespace-pre font-mono text-xs w-full max-h-64 overflow-auto")
    output.props("data-ts=install-output")

    def start() -> None:
        try:
            request = desk.install_request(
                (packages.value or "").split(),
                links.value or "",
                bool(offline.value),
                torch.value or None,
            )
        except ValueError as exc:
            error.set_text(str(exc))
            return
        error.set_text("")
        background_tasks.create(desk.install(name, request))

    install.on_click(start)
    cancel.on_click(lambda: desk.cancel_install(name))

    def show(_: object) -> None:
        job = desk.jobs.get(name)
        running = job is not None and job.state == "running"
        install.set_enabled(not running)
        cancel.set_visibility(running)
        progress.set_visibility(running)
        state.set_text("" if job is None else f"{job.state}: {job.progress}")
        output.set_text("" if job is None else "\n".join(list(job.lines)[-SHOWN_LINES:]))

    def signature() -> Any:
        job = desk.jobs.get(name)
        return None if job is None else (id(job), job.state, job.progress, job.received)

    live.watch(["servers"], show, signature)
