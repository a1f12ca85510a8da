"""A Model tab's right side: training settings, Train/Stop/Resume, live curves, outputs, export."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from nicegui import background_tasks, ui

from torchstudio.app import model_book
from torchstudio.app.model_views import EXPORT_FORMATS
from torchstudio.app.pages.model_editor import mark_id
from torchstudio.app.pages.part_picker import part_editor
from torchstudio.app.pages.sync import Watcher
from torchstudio.app.session import Studio

CODE_SETTINGS = ("loss", "metric", "optimizer", "scheduler")


def settings_form(studio: Studio, watcher: Watcher, name: str) -> None:
    """Every training setting; the empty ones take modelbuild's suggestion."""
    assert studio.project is not None and studio.views is not None
    project = studio.project

    def save(key: str, value: Any, field: Any = None) -> None:
        try:
            model_book.set_setting(project, name, key, model_book.parse_setting(key, value))
            if field is not None:
                field.error = None
        except ValueError as exc:
            if field is not None:
                field.error = str(exc)
        if field is not None:
            field.update()

    @ui.refreshable
    def form() -> None:
        values = model_book.effective_settings(project.model(name))
        with ui.grid(columns=4).classes("w-full gap-x-3 gap-y-0"):
            for key in ("batch_size", "epochs", "early_stop"):
                field = ui.input(key.replace("_", " "), value=str(values[key] or ""))
                field.props("dense").mark(f"setting-{key}-{mark_id(name)}")
                field.on("change", lambda _, k=key, f=field: save(k, f.value, f))
            devices = list(dict.fromkeys([*studio.views.devices, values["device"]]))
            device = ui.select(devices, value=values["device"], label="device").props("dense")
            device.on_value_change(lambda e: save("device", e.value))
            precision = ui.select(list(model_book.PRECISIONS), value=values["precision"])
            precision.props("dense label=precision")
            precision.on_value_change(lambda e: save("precision", e.value))
            shuffle = ui.switch("shuffle", value=bool(values["shuffle"]))
            shuffle.on_value_change(lambda e: save("shuffle", e.value))
            weights = ui.switch("class weights", value=bool(values["class_weights"]))
            weights.on_value_change(lambda e: save("class_weights", e.value))
        for key in CODE_SETTINGS:
            chunks = values[key]
            text = "\n".join(chunks) if isinstance(chunks, list) else chunks or ""
            with ui.expansion(f"{key}: {first_call(text)}").classes("w-full text-sm"):
                part_editor(studio, name, key, text)

    form()

    def suggestions() -> str:
        return str((project.model(name).get("build") or {}).get("suggestions"))

    watcher.watch(suggestions, lambda _: form.refresh(), now=False)
    watcher.watch(lambda: tuple(studio.views.devices), lambda _: form.refresh(), now=False)


def first_call(code: str) -> str:
    """The line that makes the object (`loss = CrossEntropyLoss()`), for a short title."""
    lines = [line.strip() for line in code.splitlines() if "=" in line and "import" not in line]
    return lines[-1] if lines else "(suggested after Build)"


def train_bar(studio: Studio, watcher: Watcher, name: str) -> None:
    """Train / Stop / Resume, progress, speed and time left, and the live curves."""
    assert studio.training is not None and studio.views is not None
    training, views = studio.training, studio.views
    with ui.row().classes("w-full items-center gap-2"):
        ui.button("Train", icon="play_arrow", on_click=lambda: training.start(name)).mark(
            f"train-{mark_id(name)}"
        )
        ui.button("Stop", icon="stop", on_click=lambda: training.stop(name)).props(
            "color=negative"
        ).mark(f"stop-{mark_id(name)}")
        ui.button("Resume", icon="redo", on_click=lambda: training.start(name, resume=True)).mark(
            f"resume-{mark_id(name)}"
        )
        status = ui.label().classes("text-sm").props("data-ts=train-status")
        status.mark(f"train-status-{mark_id(name)}")
    progress = ui.linear_progress(value=0, show_value=False).classes("w-full")
    error = ui.label().classes("whitespace-pre font-mono text-xs text-negative w-full")
    error.mark(f"train-error-{mark_id(name)}").props("data-ts=train-error")
    with ui.row().classes("w-full no-wrap gap-2"):
        loss_chart = (
            ui.echart({}).classes("w-1/2 h-64 ts-curves").mark(f"loss-chart-{mark_id(name)}")
        )
        metric_chart = (
            ui.echart({}).classes("w-1/2 h-64 ts-curves").mark(f"metric-chart-{mark_id(name)}")
        )

    def show(_: object) -> None:
        run = training.run(name)
        speed = f" · {run.samples_per_s:,.0f} samples/s" if run.samples_per_s else ""
        left = f" · {run.seconds_left:.0f} s left" if run.seconds_left else ""
        epochs = f" · epoch {run.epoch}/{run.epochs}" if run.epochs else ""
        stored = studio.project.model(name).get("status") if studio.project else ""
        state = run.status if run.status != "idle" else stored
        status.set_text(
            f"{state}{epochs}{speed}{left}" + (f" · {run.message}" if run.message else "")
        )
        progress.set_value(run.fraction)
        error.set_text(run.error or "")

    drawn = {"request": 0}
    client = ui.context.client

    async def curves(_: object) -> None:
        drawn["request"] += 1
        request = drawn["request"]
        series = await views.curves([name])
        await client.connected()  # a change sent before the page is connected would be lost
        if request != drawn["request"]:
            return  # a newer drawing started meanwhile: it has the later epochs
        for chart, key in ((loss_chart, "loss"), (metric_chart, "metric")):
            if key in series and not chart.is_deleted:  # the panel may be gone meanwhile
                chart.options.clear()
                chart.options.update(series[key])
                chart.update()

    actions = studio.actions  # a build changes the status shown before any training
    watcher.watch(
        lambda: (training.version, training.run(name).status, actions and actions.version), show
    )
    watcher.watch(
        lambda: (training.run(name).epoch, training.run(name).status),
        lambda value: background_tasks.create(curves(value)),
    )


def output_view(studio: Studio, watcher: Watcher, name: str) -> None:
    """A validation sample: its input, the model's prediction and the target."""
    assert studio.actions is not None and studio.dataset is not None
    actions, dataset = studio.actions, studio.dataset
    with ui.row().classes("w-full items-center gap-2"):
        index = ui.number("validation sample", value=0, min=0, step=1, format="%d")
        index.props("dense").classes("w-40").mark(f"output-index-{mark_id(name)}")
        ui.button(
            "Show output", icon="visibility",
            on_click=lambda: actions.predict(name, int(index.value or 0)),
        ).mark(f"predict-{mark_id(name)}")  # fmt: skip
    with ui.row().classes("items-center gap-4"):
        image = ui.element("img").props("width=112 height=112")
        text = ui.label().classes("text-sm").props("data-ts=prediction")
        text.mark(f"prediction-{mark_id(name)}")

    def show(_: object) -> None:
        prediction = actions.state(name).prediction
        if prediction is None:
            image.set_visibility(False)
            return
        if prediction.get("error"):
            text.set_text(prediction["error"])
            return
        src = f"/api/dataset/sample/valid/{prediction['index']}/0.png?w=112&h=112&g={dataset.generation}&s={studio.salt}"
        image.props(f'src="{src}"').set_visibility(True)
        text.set_text(
            "  ".join(
                f"predicted {o['predicted']}"
                + (f" ({o['confidence']:.0%})" if "confidence" in o else "")
                + (f" · target {o['target']}" if o.get("target") else "")
                for o in prediction["outputs"]
            )
        )

    watcher.watch(lambda: str(actions.state(name).prediction), show)


def export_panel(studio: Studio, watcher: Watcher, name: str) -> None:
    """Export the best weights' model: a browser download, or saved to a path."""
    assert studio.actions is not None
    actions = studio.actions
    with ui.row().classes("w-full items-center gap-2"):
        fmt = ui.select(list(EXPORT_FORMATS), value="onnx", label="format").classes("w-48")
        fmt.mark(f"export-format-{mark_id(name)}")
        ui.button(
            "Download", icon="download",
            on_click=lambda: ui.download.from_url(
                f"/api/model/export?name={quote(name)}&fmt={fmt.value}"
            ),
        ).mark(f"export-download-{mark_id(name)}")  # fmt: skip
        path = ui.input("save to path").classes("grow").mark(f"export-path-{mark_id(name)}")
        ui.button(
            "Save", icon="save",
            on_click=lambda: actions.export(name, fmt.value, path.value or ""),
        ).mark(f"export-save-{mark_id(name)}")  # fmt: skip
    message = ui.label().classes("text-sm").mark(f"export-message-{mark_id(name)}")
    watcher.watch(lambda: actions.state(name).export_message, message.set_text)
