"""A training part (loss, metric, optimizer, scheduler): module, parameter form, editable code.

Losses and metrics have one part per model output; `output` says which one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nicegui import ui

from torchstudio.app.catalog import form_parameters, module_key
from torchstudio.app.models.document import PART_KINDS, PartChoice
from torchstudio.app.pages.layout import CODE_THEME, ask_replace
from torchstudio.app.pages.live import Live
from torchstudio.app.pages.model_editor import edited_badge, mark_id
from torchstudio.app.studio import Studio


def part_marker(key: str, name: str, output: int) -> str:
    """Test markers: `part-loss-NAME` (first output) and `part-loss-2-NAME` (second)..."""
    return f"{key}-{mark_id(name)}" if output == 0 else f"{key}-{output + 1}-{mark_id(name)}"


def part_editor(
    studio: Studio, live: Live, name: str, key: str, text: str, output: int = 0
) -> None:
    """Picking a module writes its code; its parameters rewrite it; the code stays editable.

    While the user has not set the part, the build's suggestion is shown (its module and
    form), marked as suggested, with Accept to make it the user's; editing replaces it.
    """
    assert studio.models is not None
    models, catalog = studio.models, studio.catalog
    kind = PART_KINDS[key]
    marker = part_marker(key, name, output)
    options = {module_key(m): f"{m.name} ({m.origin})" for m in catalog.modules.get(kind, [])}

    def shown() -> tuple[PartChoice, bool]:
        choice, suggested = models.document(name).shown_part(key, output)
        return choice or PartChoice(), suggested

    with ui.row().classes("w-full items-center no-wrap gap-2"):
        picker = ui.select(options, value=shown()[0].module, label=f"{key} module", with_input=True)
        picker.classes("grow").props("dense").mark(f"part-{marker}")
        edited_badge(live, name, lambda: shown()[0].edited, f"part-edited-{marker}")
        suggested_badge(
            live,
            name,
            lambda: shown()[1],
            lambda: models.accept_suggestion(name, key, output),
            marker,
        )

    @ui.refreshable
    def form() -> None:
        current = shown()[0]
        info = catalog.find(kind, current.module or "")
        if info is None:
            return
        with ui.grid(columns=3).classes("w-full gap-x-3 gap-y-0"):
            for parameter in form_parameters(info):
                label = str(parameter["name"])
                field = ui.input(label, value=current.values.get(label, str(parameter["default"])))
                field.props("dense").mark(f"part-param-{label}-{marker}")

                def changed(_: Any, label: str = label, field: ui.input = field) -> None:
                    error = models.set_part_value(name, key, label, field.value, output)
                    field.error = error or None
                    field.update()
                    editor.set_value(models.effective(name).chunk(key, output))

                field.on("change", changed)

    form()
    editor = ui.codemirror(text, language="Python", theme=CODE_THEME).style("height: 120px")
    editor.classes("w-full border").mark(f"setting-{marker}")
    editor.on_value_change(lambda e: models.set_part_code(name, key, e.value or "", output))

    def use(module: str) -> None:
        editor.set_value(models.choose_part(name, key, module, output))
        form.refresh()

    def picked(module: str | None) -> None:
        previous = shown()[0]
        if not module or module == previous.module:
            return
        if previous.edited:  # the module's code would replace the hand edits: ask
            ask_replace(
                f"{key} code", lambda: use(module), lambda: picker.set_value(previous.module)
            )
        else:
            use(module)

    picker.on_value_change(lambda e: picked(e.value))


def suggested_badge(
    live: Live,
    name: str,
    suggested: Callable[[], bool],
    accept: Callable[[], None],
    marker: str,
) -> None:
    """A "suggested" badge and its Accept button, shown while a suggestion fills the value."""
    with ui.row().classes("items-center no-wrap gap-1") as row:
        badge = ui.badge("suggested", color="primary").props("data-ts=suggested outline")
        badge.mark(f"suggested-{marker}").tooltip(
            "Suggested by the build: picking a module or editing the code replaces it"
        )
        ui.button("Accept", on_click=accept).props("flat dense size=sm data-ts=accept").mark(
            f"accept-{marker}"
        )
    live.watch(["model"], row.set_visibility, suggested, model=name)
