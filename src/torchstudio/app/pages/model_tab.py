"""The Models tab: one inner tab per open model, with add, duplicate, rename, close, delete."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from nicegui import background_tasks, ui

from torchstudio.app.pages.layout import LEFT_COLUMN, RIGHT_COLUMN, TWO_COLUMNS
from torchstudio.app.pages.live import Live
from torchstudio.app.pages.model_editor import GRAPH_SCRIPT, build_panel, mark_id, model_source
from torchstudio.app.pages.model_probes import OpenSample, interpretation_panel, lr_panel
from torchstudio.app.pages.model_sweep import sweep_panel
from torchstudio.app.pages.model_training import (
    export_panel,
    output_view,
    settings_form,
    train_bar,
)
from torchstudio.app.pages.navigation import Navigation
from torchstudio.app.store.project import ProjectError
from torchstudio.app.studio import Studio

Selector = Callable[[str | None], None]  # opens a model's tab (None: the first one)


def open_models(studio: Studio) -> list[str]:
    """The models that have a tab (closed ones stay in the project and on the Dashboard)."""
    project = studio.project
    if project is None:
        return []
    return [n for n in project.model_names() if not project.model(n).get("closed")]


def model_header(studio: Studio, name: str, select: Selector) -> None:
    """Rename, duplicate, close and delete a model."""
    assert studio.models is not None and studio.training is not None
    models, training, actions = studio.models, studio.training, studio.actions

    def rename() -> None:
        try:
            new = models.rename(name, field.value or "")
        except (ProjectError, ValueError) as exc:  # a taken or empty name: say why
            ui.notify(str(exc), type="negative")
            return
        if actions is not None:
            actions.rename(name, new)
        select(new)

    async def close(delete: bool) -> None:
        await training.stop(name)
        if delete:
            models.delete(name)
        else:
            models.set_closed(name, True)
        select(None)

    with ui.row().classes("w-full items-center gap-2 flex-wrap"):
        field = ui.input("name", value=name).props("dense").mark(f"model-name-{mark_id(name)}")
        ui.button("Rename", on_click=rename).props("flat").mark(f"rename-{mark_id(name)}")
        ui.button(
            "Duplicate", icon="content_copy",
            on_click=lambda: select(models.duplicate(name)),
        ).props("flat").mark(f"duplicate-{mark_id(name)}")  # fmt: skip
        ui.button("Close tab", icon="close", on_click=lambda: close(False)).props("flat")
        ui.button("Delete", icon="delete", on_click=lambda: confirm_delete(name, close)).props(
            "flat color=negative"
        ).mark(f"delete-{mark_id(name)}")


def confirm_delete(name: str, close: Callable[[bool], Awaitable[None]]) -> None:
    """Deleting drops the model's runs, weights and curves: ask first."""
    with ui.dialog() as dialog, ui.card():
        ui.label(f"Delete model {name!r}?").classes("text-h6")
        ui.label("Its code, runs, curves and weights leave the project for good.")
        ui.label("Close tab keeps them (the model stays on the Dashboard).").classes("text-sm")
        with ui.row().classes("w-full justify-end"):
            cancel = ui.button("Cancel", on_click=dialog.close).props("flat data-ts=delete-cancel")
            cancel.mark("delete-cancel")

            async def delete() -> None:
                dialog.close()
                await close(True)

            confirm = ui.button("Delete", icon="delete", on_click=delete)
            confirm.props("color=negative data-ts=delete-confirm").mark("delete-confirm")
    dialog.on("hide", lambda: dialog.delete())
    dialog.open()


def model_panel(
    studio: Studio, live: Live, name: str, select: Selector, open_sample: OpenSample
) -> None:
    """The common case first (build; train, watch the curves); settings, output and export
    fold, so that it fits one screen. The learning-rate finder, the interpretation and
    sweeps follow."""
    model_header(studio, name, select)
    with ui.row().classes(TWO_COLUMNS):
        with ui.column().classes(LEFT_COLUMN), ui.card().classes("w-full"):
            ui.label("Model").classes("text-h6")
            model_source(studio, live, name)
            build_panel(studio, live, name)
        with ui.column().classes(RIGHT_COLUMN):
            with ui.card().classes("w-full"):
                ui.label("Training").classes("text-h6")
                train_bar(studio, live, name)
                settings = ui.expansion("Training settings", icon="tune", value=True)
                with settings.classes("w-full").props("data-ts=fold-settings"):
                    settings_form(studio, live, name)
            with ui.card().classes("w-full"):
                output = ui.expansion("Output", icon="visibility", caption="a prediction")
                with output.classes("w-full").props("data-ts=fold-output"):
                    output_view(studio, live, name)
            with ui.card().classes("w-full"):
                export = ui.expansion("Export", icon="download", caption="ONNX, TorchScript, code")
                with export.classes("w-full").props("data-ts=fold-export"):
                    export_panel(studio, live, name)
            with ui.card().classes("w-full"):
                ui.label("Learning rate").classes("text-h6")
                lr_panel(studio, live, name)
    with ui.card().classes("w-full"):
        ui.label("Interpretation").classes("text-h6")
        interpretation_panel(studio, live, name, open_sample)
    with ui.card().classes("w-full"):
        ui.label("Sweep").classes("text-h6")
        sweep_panel(studio, live, name)


def models_tab(studio: Studio, live: Live, navigation: Navigation) -> None:
    if studio.project is None:
        ui.label("Open or create a project (Project menu).")
        return
    project, models = studio.project, studio.models
    assert models is not None
    ui.add_head_html(GRAPH_SCRIPT)
    chosen: dict[str, str | None] = {"name": None}
    drawn: dict[str, list[str]] = {"names": []}
    if studio.views is not None and not studio.views.devices_checked:
        background_tasks.create(studio.views.find_devices())  # for the device pickers

    def select(name: str | None) -> None:
        if name is not None and project.model(name).get("closed"):
            models.set_closed(name, False)
        chosen["name"] = name
        navigation.remember(model=name)
        area.refresh()

    navigation.open_model = select
    if navigation.requested_model in open_models(studio):
        chosen["name"] = navigation.requested_model

    def open_sample(split: str, index: int) -> None:
        """A sample of the interpretation, in the Dataset tab's sample browser."""
        assert studio.dataset is not None
        studio.dataset.set_browse(split, index)
        navigation.show_dataset()

    def add() -> None:
        select(models.add())

    @ui.refreshable
    def area() -> None:
        names = drawn["names"] = open_models(studio)
        if chosen["name"] not in names:
            chosen["name"] = names[0] if names else None
        with ui.row().classes("w-full items-center gap-2 no-wrap"):
            with ui.tabs(value=chosen["name"]).props("dense align=left").classes("min-w-0") as tabs:
                for model in names:
                    ui.tab(model).mark(f"model-tab-{mark_id(model)}")
            ui.button("New model", icon="add", on_click=add).props("flat").mark("add-model")
        tabs.on_value_change(lambda e: select(e.value))
        if chosen["name"] is None:
            ui.label("No model open: add one, or open one from the Dashboard.")
            return
        # The panel's own subscriptions go with the panel when the area is drawn again.
        model_panel(studio, live.scope("model panel"), chosen["name"], select, open_sample)

    area()

    def follow(_: object) -> None:
        # A model added, closed, renamed or deleted (here or in another browser tab).
        if open_models(studio) != drawn["names"]:
            area.refresh()

    live.watch(["models", "model"], follow, now=False)
