"""The Models tab: one inner tab per open model, with add, duplicate, rename, close, delete."""

from __future__ import annotations

from collections.abc import Callable

from nicegui import background_tasks, ui

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

    with ui.row().classes("w-full items-center gap-2"):
        field = ui.input("name", value=name).props("dense").mark(f"model-name-{mark_id(name)}")
        ui.button("Rename", on_click=rename).props("flat").mark(f"rename-{mark_id(name)}")
        ui.button(
            "Duplicate", icon="content_copy",
            on_click=lambda: select(models.duplicate(name)),
        ).props("flat").mark(f"duplicate-{mark_id(name)}")  # fmt: skip
        ui.button("Close tab", icon="close", on_click=lambda: close(False)).props("flat")
        ui.button("Delete", icon="delete", on_click=lambda: close(True)).props(
            "flat color=negative"
        )


def model_panel(
    studio: Studio, live: Live, name: str, select: Selector, open_sample: OpenSample
) -> None:
    model_header(studio, name, select)
    with ui.row().classes("w-full no-wrap items-start gap-4"):
        with ui.column().classes("w-[44%] min-w-[420px]"), ui.card().classes("w-full"):
            ui.label("Model").classes("text-h6")
            model_source(studio, live, name)
            build_panel(studio, live, name)
        with ui.column().classes("grow"):
            with ui.card().classes("w-full"):
                ui.label("Training").classes("text-h6")
                settings_form(studio, live, name)
                train_bar(studio, live, name)
            with ui.card().classes("w-full"):
                ui.label("Output").classes("text-h6")
                output_view(studio, live, name)
            with ui.card().classes("w-full"):
                ui.label("Learning rate").classes("text-h6")
                lr_panel(studio, live, name)
            with ui.card().classes("w-full"):
                ui.label("Export").classes("text-h6")
                export_panel(studio, live, name)
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
        area.refresh()

    navigation.open_model = select

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
        with ui.row().classes("w-full items-center gap-2"):
            with ui.tabs(value=chosen["name"]).props("dense align=left") as tabs:
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
