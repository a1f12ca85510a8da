"""A training part (loss, metric, optimizer, scheduler): module, parameter form, editable code.

Losses and metrics have one part per model output; `output` says which one.
"""

from __future__ import annotations

from typing import Any

from nicegui import ui

from torchstudio.app.catalog import form_parameters, module_key
from torchstudio.app.models import definition as model_book
from torchstudio.app.pages.live import Live
from torchstudio.app.pages.model_editor import ask_replace, edited_badge, mark_id
from torchstudio.app.studio import Studio


def part_marker(key: str, name: str, output: int) -> str:
    """Test markers: `part-loss-NAME` (first output) and `part-loss-2-NAME` (second)..."""
    return f"{key}-{mark_id(name)}" if output == 0 else f"{key}-{output + 1}-{mark_id(name)}"


def part_editor(
    studio: Studio, live: Live, name: str, key: str, text: str, output: int = 0
) -> None:
    """Picking a module writes its code; its parameters rewrite it; the code stays editable."""
    assert studio.project is not None
    project, catalog = studio.project, studio.catalog
    kind = model_book.PART_KINDS[key]
    marker = part_marker(key, name, output)
    options = {module_key(m): f"{m.name} ({m.origin})" for m in catalog.modules.get(kind, [])}

    def entry() -> dict[str, Any]:
        return model_book.part_entry(project.model(name), key, output)

    with ui.row().classes("w-full items-center no-wrap gap-2"):
        picker = ui.select(
            options, value=entry().get("module"), label=f"{key} module", with_input=True
        )
        picker.classes("grow").props("dense").mark(f"part-{marker}")
        edited_badge(live, name, lambda: bool(entry().get("edited")), f"part-edited-{marker}")

    @ui.refreshable
    def form() -> None:
        current = entry()
        info = catalog.find(kind, current.get("module") or "")
        if info is None:
            return
        values = current.get("values") or {}
        with ui.grid(columns=3).classes("w-full gap-x-3 gap-y-0"):
            for parameter in form_parameters(info):
                label = str(parameter["name"])
                field = ui.input(label, value=values.get(label, str(parameter["default"])))
                field.props("dense")

                def changed(_: Any, label: str = label, field: ui.input = field) -> None:
                    field.error = (
                        model_book.set_part_value(
                            project, catalog, name, key, label, field.value, output
                        )
                        or None
                    )
                    field.update()
                    editor.set_value(current_code())

                field.on("change", changed)

    def current_code() -> str:
        value = model_book.effective_settings(project.model(name))[key]
        if key in model_book.PER_OUTPUT:
            return value[output] if isinstance(value, list) and output < len(value) else ""
        return value or ""

    form()
    editor = ui.codemirror(text, language="Python").style("height: 120px")
    editor.classes("w-full border").mark(f"setting-{marker}")
    editor.on_value_change(
        lambda e: model_book.set_part_code(project, name, key, e.value or "", output)
    )

    def use(module: str) -> None:
        editor.set_value(model_book.choose_part(project, catalog, name, key, module, output))
        form.refresh()

    def picked(module: str | None) -> None:
        previous = entry().get("module")
        if not module or module == previous:
            return
        if entry().get("edited"):  # the module's code would replace the hand edits: ask
            ask_replace(f"{key} code", lambda: use(module), lambda: picker.set_value(previous))
        else:
            use(module)

    picker.on_value_change(lambda e: picked(e.value))
