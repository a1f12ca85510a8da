"""A training part (loss, metric, optimizer, scheduler): module, parameter form, editable code."""

from __future__ import annotations

from typing import Any

from nicegui import ui

from torchstudio.app import model_book
from torchstudio.app.catalog import form_parameters, module_key
from torchstudio.app.pages.model_editor import mark_id
from torchstudio.app.session import Studio


def part_editor(studio: Studio, name: str, key: str, text: str) -> None:
    """Picking a module writes its code; its parameters rewrite it; the code stays editable."""
    assert studio.project is not None
    project, catalog = studio.project, studio.catalog
    kind = model_book.PART_KINDS[key]
    options = {module_key(m): f"{m.name} ({m.origin})" for m in catalog.modules.get(kind, [])}
    part = (project.model(name).get("parts") or {}).get(key) or {}
    picker = ui.select(options, value=part.get("module"), label=f"{key} module", with_input=True)
    picker.classes("w-full").props("dense").mark(f"part-{key}-{mark_id(name)}")

    @ui.refreshable
    def form() -> None:
        current = (project.model(name).get("parts") or {}).get(key) or {}
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
                        model_book.set_part_value(project, catalog, name, key, label, field.value)
                        or None
                    )
                    field.update()
                    editor.set_value(code_text(key, project.model(name)["settings"][key]))

                field.on("change", changed)

    form()
    editor = ui.codemirror(text, language="Python").style("height: 120px")
    editor.classes("w-full border").mark(f"setting-{key}-{mark_id(name)}")
    editor.on_value_change(
        lambda e: model_book.set_setting(project, name, key, model_book.part_code(key, e.value))
    )

    def picked(module: str | None) -> None:
        if module and module != ((project.model(name).get("parts") or {}).get(key) or {}).get(
            "module"
        ):
            editor.set_value(model_book.choose_part(project, catalog, name, key, module))
            form.refresh()

    picker.on_value_change(lambda e: picked(e.value))


def code_text(key: str, value: Any) -> str:
    return "\n".join(value) if isinstance(value, list) else value or ""
