"""A Model tab's right side: training settings, Train/Stop/Resume, live curves, outputs, export."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from nicegui import background_tasks, ui

from torchstudio.app.fingerprint import short
from torchstudio.app.models.document import PER_OUTPUT, Effective, ModelDocument
from torchstudio.app.models.training import CONNECTION_LOST
from torchstudio.app.models.views import EXPORT_FORMATS, epochs_csv, headline, with_log_axis
from torchstudio.app.pages.live import Live
from torchstudio.app.pages.model_editor import mark_id
from torchstudio.app.pages.model_placement import placement_form
from torchstudio.app.pages.part_picker import part_editor
from torchstudio.app.studio import Studio
from torchstudio.train.settings import COMPILE_CHOICES, PRECISIONS

CODE_SETTINGS = ("loss", "metric", "optimizer", "scheduler")


def settings_form(studio: Studio, live: Live, name: str) -> None:
    """Every training setting; an empty one shows the build's suggestion (marked, with
    Accept) or the default, greyed: typing a value makes it the user's."""
    assert studio.models is not None and studio.views is not None
    models = studio.models

    def save(key: str, value: Any, field: Any = None) -> None:
        try:
            models.set_setting(name, key, value)
            if field is not None:
                field.error = None
        except ValueError as exc:
            if field is not None:
                field.error = str(exc)
        if field is not None:
            field.update()

    def accept(key: str) -> None:
        models.accept_suggestion(name, key)
        form.refresh()

    @ui.refreshable
    def form() -> None:
        document = models.document(name)
        values = document.effective()
        with ui.grid().classes("w-full gap-x-3 gap-y-0 grid-cols-2 sm:grid-cols-4"):
            for key in ("batch_size", "epochs", "early_stop", "checkpoint_every"):
                number_field(key, getattr(document.settings, key), values, save, accept, name)
            precision = ui.select(list(PRECISIONS), value=values["precision"])
            precision.props("dense label=precision")
            precision.on_value_change(lambda e: save("precision", e.value))
            # auto: measured on the first steps, compiled only when it pays off (docs/app.md).
            compiled = ui.select(list(COMPILE_CHOICES), value=values["compile"])
            compiled.props("dense label=compile").mark(f"setting-compile-{mark_id(name)}")
            compiled.on_value_change(lambda e: save("compile", e.value))
            shuffle = ui.switch("shuffle", value=bool(values["shuffle"]))
            shuffle.on_value_change(lambda e: save("shuffle", e.value))
            weights = ui.switch("class weights", value=bool(values["class_weights"]))
            weights.on_value_change(lambda e: save("class_weights", e.value))
        # Mirror runs to TensorBoard / MLflow; a missing package says how to install it.
        log = ui.input("mirror runs to", value=", ".join(document.settings.log or ()))
        log.props('dense stack-label placeholder="tensorboard:runs, mlflow:mlruns"')
        log.classes("w-full").mark(f"setting-log-{mark_id(name)}")
        log.on("change", lambda _: save("log", log.value, log))
        # Drawn again with the form: their subscriptions go with the previous drawing.
        inner = live.scope("settings form")
        placement_form(studio, inner, name)  # server, device(s), effective batch
        parts_form(studio, inner, name, values)

    form()

    def suggestions() -> str:
        build = models.project.model(name).get("build") or {}
        return str((build.get("suggestions"), build.get("outputs")))

    live.watch(["model"], lambda _: form.refresh(), suggestions, model=name, now=False)
    live.watch(
        ["devices"], lambda _: form.refresh(), lambda: tuple(studio.views.devices), now=False
    )


def number_field(
    key: str,
    mine: int | None,
    values: Effective,
    save: Callable[[str, Any, Any], None],
    accept: Callable[[str], None],
    name: str,
) -> None:
    """A number setting: the user's value, or empty with the value that applies greyed in
    it ("suggested", with Accept, or "default"). Typing even the greyed value keeps it."""
    shown = values[key]
    field = ui.input(key.replace("_", " "), value="" if mine is None else str(mine))
    field.props("dense stack-label").mark(f"setting-{key}-{mark_id(name)}")
    if mine is None and shown is not None:
        field.props(f'placeholder="{shown}"')
        field.props(f'hint="{"suggested" if values.is_suggested(key) else "default"}"')
    if mine is None and values.is_suggested(key):
        with field.add_slot("append"):
            button = ui.button(icon="check", on_click=lambda: accept(key))
            button.props("flat dense round size=sm data-ts=accept").tooltip("Accept the suggestion")
            button.mark(f"accept-{key}-{mark_id(name)}")
    field.on("change", lambda _: save(key, field.value, field))


def output_labels(document: dict[str, Any]) -> list[str]:
    """One label per model output ("output 1 [1, 10]"), from the build; one before a build."""
    outputs = (document.get("build") or {}).get("outputs") or [{}]
    return [
        f"output {i + 1}" + (f" {o['shape']}" if o.get("shape") else "")
        for i, o in enumerate(outputs)
    ]


def parts_form(studio: Studio, live: Live, name: str, values: Effective) -> None:
    """The loss and metric of each model output, then the optimizer and the scheduler."""
    assert studio.models is not None
    models = studio.models
    labels = output_labels(models.project.model(name))
    for key in CODE_SETTINGS:
        outputs: list[int | None] = list(range(len(labels))) if key in PER_OUTPUT else [None]
        for output in outputs:
            text = values.chunk(key, output or 0)

            def title(key: str = key, output: int | None = output) -> str:
                return part_title(models.document(name), key, output, labels)

            with ui.expansion(title()).classes("w-full text-sm") as part:
                if output is not None:
                    part.props(f"data-ts={key}-part")
                part_editor(studio, live, name, key, text, output or 0)
            # Picking a module or editing the code changes the title without a redraw.
            live.watch(["model"], part.set_text, title, model=name, now=False)


def part_title(document: ModelDocument, key: str, output: int | None, labels: list[str]) -> str:
    """An expansion's title: "loss · output 2 [1, 1]: loss = MSELoss()" (no output: "optimizer: ...")."""
    values = document.effective()
    text = values.chunk(key, output or 0)
    mark = " (suggested)" if values.is_suggested(key, output or 0) else ""
    if output is None:
        return f"{key}: {first_call(text)}{mark}"
    built = document.build is not None
    shown = first_call(text) if text or not built else "(none yet: pick a module)"
    return f"{key} · {labels[output]}: {shown}{mark}"


def first_call(code: str) -> str:
    """The line that makes the object (`loss = CrossEntropyLoss()`), for a short title."""
    lines = [line.strip() for line in code.splitlines() if "=" in line and "import" not in line]
    return lines[-1] if lines else "(suggested after Build)"


def train_bar(studio: Studio, live: Live, name: str) -> None:
    """Train / Stop / Resume, progress, speed and time left, and the live curves."""
    assert studio.training is not None and studio.charts is not None
    training, charts = studio.training, studio.charts
    new_run = new_run_dialog(studio, name)
    with ui.row().classes("w-full items-center gap-2"):
        train = ui.button("Train", icon="play_arrow", on_click=new_run)
        train.props("data-ts=train").mark(f"train-{mark_id(name)}")
        stop = ui.button("Stop", icon="stop", on_click=lambda: training.stop(name))
        stop.props("color=negative data-ts=stop").mark(f"stop-{mark_id(name)}")
        resume = ui.button(
            "Resume", icon="redo", on_click=lambda: training.start(name, resume=True)
        )
        resume.props("data-ts=resume").mark(f"resume-{mark_id(name)}")
        with resume:
            resume_tip = ui.tooltip("")
        reconnect = ui.button("Reconnect", icon="sync", on_click=lambda: reconnect_server())
        reconnect.props("flat data-ts=train-reconnect").mark(f"reconnect-{mark_id(name)}")
        status = ui.label().classes("text-sm").props("data-ts=train-status")
        status.mark(f"train-status-{mark_id(name)}")

    async def reconnect_server() -> None:
        server = studio.models.placed.get(name) if studio.models else None
        if server is not None:
            await studio.desk.reconnect(server)
            studio.changes.emit("training", name)  # the button goes once connected

    progress = ui.linear_progress(value=0, show_value=False).classes("w-full")
    progress.props('aria-label="training progress"')
    # Which run the curves show, the dataset it trained on, and whether it is stale.
    shown = ui.label().classes("text-sm").mark(f"run-shown-{mark_id(name)}")
    shown.props("data-ts=run-shown")
    error = ui.label().classes(
        "whitespace-pre-wrap break-all font-mono text-xs text-negative w-full"
    )
    error.mark(f"train-error-{mark_id(name)}").props("data-ts=train-error")
    with ui.row().classes("w-full items-center gap-2"):
        best = ui.label().classes("text-subtitle1").props("data-ts=headline")
        best.mark(f"headline-{mark_id(name)}")
        ui.space()
        log_scale = ui.switch("log scale (loss)").props("dense data-ts=log-scale")
        log_scale.mark(f"log-scale-{mark_id(name)}")
        ui.button("CSV", icon="download", on_click=lambda: download_csv()).props(
            "flat dense data-ts=curves-csv"
        ).mark(f"curves-csv-{mark_id(name)}")
    with ui.row().classes("w-full gap-2 flex-wrap md:flex-nowrap"):
        loss_chart = (
            ui.echart({})
            .classes("w-full md:w-1/2 h-64 ts-curves")
            .mark(f"loss-chart-{mark_id(name)}")
        )
        metric_chart = (
            ui.echart({})
            .classes("w-full md:w-1/2 h-64 ts-curves")
            .mark(f"metric-chart-{mark_id(name)}")
        )

    def show(_: object) -> None:
        run = training.run(name)
        speed = f" · {run.samples_per_s:,.0f} samples/s" if run.samples_per_s else ""
        left = f" · {run.seconds_left:.0f} s left" if run.seconds_left else ""
        epochs = f" · epoch {run.epoch}/{run.epochs}" if run.epochs else ""
        stored = studio.project.model(name).get("status") if studio.project else ""
        state = run.status if run.status != "idle" else stored
        status.set_text(status_line(state, epochs + speed + left, run.message))
        # Each button only when it can act.
        running = training.running(name)
        train.set_enabled(not running)
        stop.set_enabled(running)
        refusal = None if running or studio.models is None else studio.models.resume_refusal(name)
        resume.set_enabled(not running and refusal is None)
        resume_tip.set_text(refusal or "go on from the latest run's checkpoint")
        progress.set_value(run.fraction)
        error.set_text(run.error or "")
        lost = run.status == CONNECTION_LOST and training.lost_server(name) is not None
        reconnect.set_visibility(lost)

    client = ui.context.client

    async def curves(_: object) -> None:
        # The model's curves as last drawn (once for every page, when its epochs changed).
        series = charts.curves.get(name)
        if series is None:
            charts.want(name)  # its "charts" change brings them here
            return
        await client.connected()  # a change sent before the page is connected would be lost
        for chart, key in ((loss_chart, "loss"), (metric_chart, "metric")):
            if key in series and not chart.is_deleted:  # the panel may be gone meanwhile
                option = series[key]
                if key == "loss" and log_scale.value:
                    option = with_log_axis(option)
                chart.options.clear()
                chart.options.update(option)
                chart.update()

    log_scale.on_value_change(lambda _: background_tasks.create(curves(None)))

    def download_csv() -> None:
        run = studio.models.latest_run(name) if studio.models else None
        if run is None or studio.project is None:
            ui.notify("no run yet: nothing to download", type="warning")
            return
        text = epochs_csv(studio.project.epochs(name, run.number))
        ui.download.content(text.encode(), f"{name}-run-{run.number}.csv", "text/csv")

    # A build ("actions") changes the status shown before any training.
    live.watch(["training", "actions", "model"], show, model=name)
    live.watch(["epochs", "model"], best.set_text, lambda: best_of(studio, name), model=name)
    # Which run is shown, and whether it is stale: runs change, or the dataset does.
    live.watch(
        ["epochs", "model", "dataset"], shown.set_text, lambda: run_shown(studio, name), model=name
    )
    live.watch(
        ["charts"],
        lambda value: background_tasks.create(curves(value)),
        lambda: charts.curves.get(name),
        model=name,
    )


def status_line(state: str | None, progress: str, message: str | None) -> str:
    """ "finished · epoch 5/5 · 120 samples/s": each thing once.

    The message is left out when it repeats the state or the progress, and for an error
    (the error itself is shown below); one that starts with the state ("stopped: why")
    replaces it.
    """
    state = state or ""
    if not message or message == state or message in progress or state == "error":
        return state + progress
    if message.startswith(state):
        return message + progress
    return f"{state}{progress} · {message}"


def best_of(studio: Studio, name: str) -> str:
    """The headline over the curves: the latest run's best result."""
    run = studio.models.latest_run(name) if studio.models else None
    if run is None or studio.project is None:
        return "no run yet"
    return f"{run.label}: {headline(studio.project.epochs(name, run.number))}"


def run_shown(studio: Studio, name: str) -> str:
    """The training area's line: "run 2 of 2 · dataset 1a2b3c4d (loaded)", and stale or not."""
    if studio.models is None:
        return ""
    runs = studio.models.runs(name)
    if not runs:
        return "no run yet: Train starts run 1"
    latest = runs[-1]
    dataset = short(latest.dataset)
    if latest.dataset:
        loaded = latest.dataset == studio.models.dataset.fingerprint()
        dataset += " (the loaded dataset)" if loaded else " (not the loaded dataset)"
    stale = studio.models.run_stale(latest)
    return f"showing run {latest.number} of {len(runs)} · dataset {dataset}" + (
        f" · stale: {stale}" if stale else ""
    )


def new_run_dialog(studio: Studio, name: str) -> Any:
    """Train: a model with runs gets a new one; the dialog offers to delete the previous ones."""
    assert studio.training is not None and studio.models is not None
    training, models = studio.training, studio.models
    with ui.dialog() as dialog, ui.card():
        text = ui.label()
        with ui.row().classes("gap-2"):
            keep = ui.button("Train, keep them", on_click=lambda: dialog.submit("keep"))
            keep.mark(f"train-keep-{mark_id(name)}")
            delete = ui.button("Delete them and train", on_click=lambda: dialog.submit("delete"))
            delete.props("color=negative").mark(f"train-delete-{mark_id(name)}")
            ui.button("Cancel", on_click=lambda: dialog.submit(None)).props("flat")

    async def train() -> None:
        runs = models.runs(name)
        if runs and not training.running(name):
            count = f"{len(runs)} run" + ("s" if len(runs) > 1 else "")
            text.set_text(
                f"{name} has {count}. Train starts run {runs[-1].number + 1} and keeps them; "
                "or delete them (their epochs and weights) first."
            )
            choice = await dialog
            if choice is None:
                return
            if choice == "delete":
                models.delete_runs(name, keep_latest=False)
        training.start(name)

    return train


OUTPUT_SIDE = 160  # pixels of each image of the output view
OUTPUT_TITLES = {"inputs": "Input", "outputs": "Output", "targets": "Target"}


def output_view(studio: Studio, live: Live, name: str) -> None:
    """A validation sample: its inputs, the model's outputs and the targets, each drawn by
    the Dataset tab's renderer of that tensor, and a line of predicted vs target."""
    assert studio.actions is not None
    actions = studio.actions
    with ui.row().classes("w-full items-center gap-2"):
        index = ui.number("validation sample", value=0, min=0, step=1, format="%d")
        index.props("dense").classes("w-40").mark(f"output-index-{mark_id(name)}")
        ui.button(
            "Show output", icon="visibility",
            on_click=lambda: actions.predict(name, int(index.value or 0)),
        ).mark(f"predict-{mark_id(name)}")  # fmt: skip
    text = ui.label().classes("text-sm").props("data-ts=prediction")
    text.mark(f"prediction-{mark_id(name)}")

    @ui.refreshable
    def images() -> None:
        prediction = actions.state(name).prediction
        if not prediction or prediction.get("error"):
            return
        tensors = actions.state(name).tensors
        with ui.row().classes("gap-6 items-start"):
            for kind, title in OUTPUT_TITLES.items():
                for position in range(len(tensors.get(kind) or [])):
                    output_image(name, kind, position, title, prediction["serial"], studio.salt)

    images()

    def show(_: object) -> None:
        prediction = actions.state(name).prediction
        images.refresh()
        if prediction is None:
            text.set_text("")
        elif prediction.get("error"):
            text.set_text(prediction["error"])
        else:
            text.set_text(prediction_line(prediction))

    live.watch(["actions"], show, lambda: str(actions.state(name).prediction), model=name)


def output_image(name: str, kind: str, position: int, title: str, serial: int, salt: str) -> None:
    """One rendered tensor of the prediction, served by the app's HTTP route."""
    side = OUTPUT_SIDE
    src = (
        f"/api/model/output/{kind}/{position}.png?name={quote(name)}"
        f"&w={side}&h={side}&v={serial}&s={salt}"
    )
    with ui.column().classes("items-center gap-1"):
        ui.label(f"{title} {position + 1}").classes("text-xs")
        box = ui.element("div").classes("ts-zoom border").style(f"width:{side}px;height:{side}px")
        with box:
            image = ui.element("img").mark(f"output-image-{kind}-{position}-{mark_id(name)}")
            image.props(f'src="{src}" width={side} height={side} draggable=false')
            image.props(f"data-ts=output-{kind}")


def prediction_line(prediction: dict[str, Any]) -> str:
    """The text line: `predicted 3 (97%) · target 3` for each output."""
    return "  ".join(
        f"predicted {o['predicted']}"
        + (f" ({o['confidence']:.0%})" if "confidence" in o else "")
        + (f" · target {o['target']}" if o.get("target") else "")
        for o in prediction["outputs"]
    )


def export_panel(studio: Studio, live: Live, name: str) -> None:
    """Export the best weights' model (a browser download, or saved to a path), or the
    model and dataset as a Python project (saved to a folder)."""
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
    with ui.row().classes("w-full items-center gap-2"):
        # The pipeline as plain code: dataset.py, model.py, train.py, requirements, README.
        folder = ui.input("Python project folder").classes("grow")
        folder.mark(f"export-code-folder-{mark_id(name)}")
        ui.button(
            "Export as Python project", icon="code",
            on_click=lambda: actions.export_code(name, folder.value or ""),
        ).mark(f"export-code-{mark_id(name)}")  # fmt: skip
    message = ui.label().classes("text-sm").mark(f"export-message-{mark_id(name)}")
    live.watch(
        ["actions"], message.set_text, lambda: actions.state(name).export_message, model=name
    )
