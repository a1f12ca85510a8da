"""The dataset's source: module picker with docs, parameter form, code editor, Load."""

from __future__ import annotations

from nicegui import background_tasks, ui

from torchstudio.app.catalog import ORIGINS, form_parameters, module_key
from torchstudio.app.dataset.service import DatasetService
from torchstudio.app.pages.layout import CODE_THEME, ask_replace, mark_error_line
from torchstudio.app.pages.live import Live
from torchstudio.app.runtime.server_desk import ServerDesk
from torchstudio.app.runtime.server_status import HERE


def machine_choices(desk: ServerDesk, current: str | None) -> dict[str, str]:
    """This machine and each server, with the state of its last check."""
    choices = {HERE: "this machine"}
    for name in desk.names():
        status = desk.status(name)
        choices[name] = f"{name} ({status.label})" if status.kind != "not checked" else name
    if current and current not in choices:  # a project from elsewhere
        choices[current] = f"{current} (not one of your servers)"
    return choices


def server_choice(dataset: DatasetService, desk: ServerDesk, live: Live) -> None:
    """Where Load and Analyze run: this machine or a server of the Servers dialog."""
    select = ui.select(
        machine_choices(desk, dataset.server), value=dataset.server or HERE, label="Load on"
    )
    select.classes("w-64").props("dense data-ts=dataset-server").mark("dataset-server")
    select.on_value_change(lambda e: background_tasks.create(dataset.set_server(e.value or None)))

    def show(_: object) -> None:
        select.set_options(machine_choices(desk, dataset.server), value=dataset.server or HERE)

    live.watch(
        ["servers", "dataset"],
        show,
        lambda: (machine_choices(desk, dataset.server), dataset.server),
        now=False,
    )


# The picker's entry while the dataset is hand-written code (no module): never a module key,
# which is always "origin:name".
CUSTOM_CODE = "custom code"


def module_picker(dataset: DatasetService, live: Live) -> None:
    """Origin, then module; the chosen module's documentation below."""
    groups = dataset.catalog.grouped("datasets")

    def shown_module() -> str | None:
        """The module the code comes from; None once the code is the user's own."""
        definition = dataset.definition
        return None if definition.code_edited else definition.module

    current = dataset.module_info()
    origin = ORIGINS.get(current.origin, current.origin) if current else next(iter(groups))
    with ui.row().classes("w-full items-end gap-2 no-wrap"):
        origin_select = ui.select(list(groups), value=origin, label="Origin").classes("w-40")
        origin_select.mark("dataset-origin")
        module_select = ui.select({}, label="Dataset module", with_input=True).classes("grow")
        module_select.mark("dataset-module")

    def fill_modules(label: str) -> None:
        # torchvision datasets whose files are in the data folder say so (no download).
        present = set(dataset.present_vision_datasets()) if label == "torchvision" else set()
        # Sorted by name: the lists are long (torchvision's has 70), and typing filters them.
        modules = sorted(groups.get(label, []), key=lambda m: m.name.lower())
        options = {
            module_key(m): f"{m.name} (present)" if m.name in present else m.name for m in modules
        }
        if shown_module() is None:
            options[CUSTOM_CODE] = CUSTOM_CODE
        module_select.options = options
        module_select.update()

    def picked(key: str | None) -> None:
        if not key or key == CUSTOM_CODE or key == shown_module():
            return
        if dataset.definition.code_edited:  # the user's own code: replaced only if they say so
            ask_replace(
                "dataset code",
                lambda: dataset.choose_module(key),
                lambda: module_select.set_value(CUSTOM_CODE),
            )
        else:
            dataset.choose_module(key)

    origin_select.on_value_change(lambda e: fill_modules(e.value))
    module_select.on_value_change(lambda e: picked(e.value))
    fill_modules(origin)

    def show_module(key: str | None) -> None:
        info = dataset.module_info()
        if info is not None:
            label = ORIGINS.get(info.origin, info.origin)
            if origin_select.value != label:
                origin_select.set_value(label)
        key = key or CUSTOM_CODE  # hand-written code: the picker says so
        if key != CUSTOM_CODE and CUSTOM_CODE in module_select.options:
            module_select.options = {
                k: v for k, v in module_select.options.items() if k != CUSTOM_CODE
            }
        if module_select.value != key:
            if key not in module_select.options:
                module_select.options = {**module_select.options, key: key}
            module_select.set_value(key)

    live.watch(["dataset"], show_module, shown_module)

    @ui.refreshable
    def documentation() -> None:
        info = dataset.module_info()
        if info is None:
            ui.label("Custom code: the dataset is defined by the code below.").classes("text-sm")
            return
        with ui.expansion(f"{info.name} documentation", icon="description").classes("w-full"):
            ui.label(info.docstring or "(no documentation)").classes(
                "whitespace-pre-wrap text-sm"
            ).mark("dataset-doc")

    documentation()
    live.watch(["dataset"], lambda _: documentation.refresh(), lambda: dataset.definition.module)


def parameter_form(dataset: DatasetService, live: Live) -> None:
    """One input per parameter of the module's signature; the code follows each change."""
    inputs: dict[str, ui.input] = {}

    @ui.refreshable
    def form() -> None:
        inputs.clear()
        info = dataset.module_info()
        if info is None:
            return
        values = dataset.definition.values
        with ui.grid(columns=2).classes("w-full gap-x-3 gap-y-0"):
            for parameter in form_parameters(info):
                name = str(parameter["name"])
                field = (
                    ui.input(
                        label=name + (" *" if parameter["required"] else ""),
                        value=values.get(name, str(parameter["default"])),
                        placeholder=str(parameter["annotation"]),
                    )
                    .props("dense")
                    .mark(f"param-{name}")
                )
                field.tooltip(f"{name}: {parameter['annotation'] or 'any'}")
                field.on_value_change(lambda e, n=name: dataset.set_value(n, e.value or ""))
                inputs[name] = field
        if not form_parameters(info):
            ui.label("This module takes no parameters.").classes("text-sm ts-hint")

    def show_errors(errors: dict[str, str]) -> None:
        for name, field in inputs.items():
            field.error = errors[name].splitlines()[0] if name in errors else None
            field.update()

    form()
    live.watch(["dataset"], lambda _: form.refresh(), lambda: dataset.definition.module, now=False)
    live.watch(["dataset"], show_errors, lambda: dict(dataset.param_errors))


def code_editor(dataset: DatasetService, live: Live) -> ui.codemirror:
    """The code the loader runs: generated from the form, editable by hand."""
    editor = ui.codemirror(dataset.definition.code, language="Python", theme=CODE_THEME)
    editor.classes("w-full border").style("height: 260px").mark("dataset-code")
    editor.on_value_change(lambda e: dataset.set_code(e.value or ""))
    edited = ui.label("Edited by hand: changing a parameter above generates the code again.")
    edited.classes("text-xs ts-hint").mark("code-edited")
    live.watch(["dataset"], edited.set_visibility, lambda: dataset.definition.code_edited)

    def show_code(code: str) -> None:
        if editor.value != code:
            editor.set_value(code)

    live.watch(["dataset"], show_code, lambda: dataset.definition.code, now=False)
    live.watch(
        ["dataset.state"], lambda line: mark_error_line(editor, line), lambda: dataset.error_line
    )
    return editor


def load_bar(dataset: DatasetService, desk: ServerDesk, live: Live) -> None:
    """Where it loads, Load / Cancel, the progress and the result or the error."""
    with ui.row().classes("w-full items-center gap-2"):
        server_choice(dataset, desk, live)
        load = ui.button("Load", icon="play_arrow", on_click=dataset.load).mark("load")
        cancel = ui.button("Cancel", icon="stop", on_click=dataset.cancel_load).mark("cancel-load")
        cancel.props("flat color=negative")
        status = ui.label().classes("text-sm").props("data-ts=load-status").mark("load-status")
    progress = ui.linear_progress(value=0, show_value=False).classes("w-full")
    error = ui.label().classes(
        "whitespace-pre font-mono text-xs text-negative w-full ts-load-error"
    )
    error.mark("load-error").style("overflow-x: auto")

    def show(signature: tuple) -> None:
        state, message, fraction, text = signature
        loading = state == "loading"
        load.set_enabled(not loading)
        cancel.set_visibility(loading)
        progress.set_visibility(loading)
        if loading and not fraction:
            progress.props("indeterminate")
        else:
            progress.props(remove="indeterminate")
        progress.set_value(fraction or 0)
        status.set_text(f"{state}" + (f": {message}" if message and not text else ""))
        error.set_text(text or "")

    live.watch(
        ["dataset.state"],
        show,
        lambda: (dataset.status, dataset.message, dataset.progress, dataset.error),
    )


def source_panel(dataset: DatasetService, desk: ServerDesk, live: Live) -> None:
    with ui.card().classes("w-full"):
        ui.label("Dataset").classes("text-h6")
        module_picker(dataset, live)
        parameter_form(dataset, live)
        code_editor(dataset, live)
        load_bar(dataset, desk, live)
