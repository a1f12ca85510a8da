"""The Model tab's Interpretation and Learning rate cards: thin layouts over `Probes`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nicegui import ui

from torchstudio.app.dataset.definition import tensor_ids
from torchstudio.app.models import probe_charts
from torchstudio.app.models.probing import Probes
from torchstudio.app.models.runs import Run
from torchstudio.app.pages.live import Live
from torchstudio.app.pages.model_editor import mark_id
from torchstudio.app.pages.sample_browser import image_url
from torchstudio.app.studio import Studio
from torchstudio.probe.interpretation import cell_samples, sample_row

THUMB = 96  # pixels of a sample in the grids
OpenSample = Callable[[str, int], None]  # (split, index): show it in the Dataset tab


def job_line(probes: Probes, name: str, kind: str) -> str:
    job = probes.job(name, kind)
    if job.status == "running":
        return f"{job.message or 'working'} ({job.fraction:.0%})"
    return job.message if job.status in ("error", "stopped") else ""


def sample_grid(
    studio: Studio, report: dict[str, Any], indices: list[int], open_sample: OpenSample,
    marker: str,
) -> None:  # fmt: skip
    """Samples drawn by the Dataset tab's renderer of the first input, each with its line;
    a click shows it in the Dataset tab's sample browser."""
    dataset = studio.dataset
    assert dataset is not None
    inputs, _ = tensor_ids(dataset.definition.roles)
    split = report.get("split", "valid")
    with ui.row().classes("gap-2").props(f"data-ts={marker}"):
        for index in indices:
            row = sample_row(report, index)
            with (
                ui.column()
                .classes("items-center gap-0 cursor-pointer")
                .on("click", lambda _, i=index: open_sample(split, i))
            ):
                url = image_url(dataset, studio.salt, split, index, inputs[0] if inputs else 0)
                ui.element("img").props(
                    f'src="{url}" width={THUMB} height={THUMB} draggable=false'
                ).style("image-rendering: pixelated").props("data-ts=interpret-sample")
                masks = (report.get("masks") or {}).get(str(index))
                if masks is not None:  # a segmentation: its target and predicted masks
                    with ui.row().classes("gap-1 no-wrap"):
                        for kind in ("target", "predicted"):
                            ui.element("img").props(
                                f'src="{probe_charts.mask_png(masks[kind])}" '
                                f"width={THUMB // 2} height={THUMB // 2} title={kind} "
                                f"draggable=false data-ts=mask-{kind}"
                            ).style("image-rendering: pixelated")
                text = f"#{index} · loss {row['loss']:.3g}"
                ui.label(text).classes("text-xs")
                if "predicted" in row:
                    ui.label(
                        f"{row['predicted']} ({row['probability']:.0%}) · target {row['target']}"
                    ).classes("text-xs")


def figures_table(report: dict[str, Any], marker: str) -> None:
    keys = ["precision", "recall", "f1", "support"]
    if report["kind"] == "segmentation":
        keys = ["iou", *keys]
    columns = [{"name": "class", "label": "class", "field": "class", "align": "left"}]
    columns += [{"name": k, "label": k, "field": k, "sortable": True} for k in keys]
    rows = [
        {"class": f["class"], **{k: f[k] if k == "support" else f"{f[k]:.3f}" for k in keys}}
        for f in report["per_class"]
    ]
    ui.table(columns=columns, rows=rows, row_key="class").props("dense flat").classes(
        "w-full"
    ).props(f"data-ts={marker}")


def classification_view(
    studio: Studio, report: dict[str, Any], name: str, open_sample: OpenSample
) -> None:
    chosen: dict[str, Any] = {"cell": None, "normalized": False}
    ui.label(
        f"accuracy {report['accuracy']:.1%} on {report['count']} {report['split']} samples"
    ).classes("text-sm").props(f"data-ts=interpret-summary-{mark_id(name)}")
    toggle = ui.toggle(["counts", "row-normalised"], value="counts").props("dense")
    chart = ui.echart(probe_charts.confusion_option(report, False))
    chart.classes("w-full h-96 ts-confusion")
    chart.props(f"data-ts=confusion-{mark_id(name)}")

    @ui.refreshable
    def cell() -> None:
        if chosen["cell"] is None:
            ui.label("Click a cell of the matrix (or a pair below) to see its samples.").classes(
                "text-xs ts-hint"
            )
            return
        target, predicted = chosen["cell"]
        picked = cell_samples(report, target, predicted)
        classes = report["classes"]
        ui.label(
            f"target {classes[target]}, predicted {classes[predicted]}: {len(picked)} samples"
            + (f" (the {probe_charts.CELL_SAMPLES} highest losses)" if len(picked) > 24 else "")
        ).classes("text-sm").props(f"data-ts=cell-title-{mark_id(name)}")
        sample_grid(
            studio, report, picked[: probe_charts.CELL_SAMPLES], open_sample,
            f"cell-samples-{mark_id(name)}",
        )  # fmt: skip

    def pick(target: int, predicted: int) -> None:
        chosen["cell"] = (target, predicted)
        cell.refresh()

    def on_point(event: Any) -> None:
        predicted, target = int(event.value[0]), int(event.value[1])
        pick(target, predicted)

    def on_toggle(event: Any) -> None:
        chart.options.clear()
        chart.options.update(probe_charts.confusion_option(report, event.value != "counts"))
        chart.update()

    chart.on_point_click(on_point)
    toggle.on_value_change(on_toggle)
    cell()
    with ui.row().classes("w-full no-wrap gap-4 items-start"):
        with ui.column().classes("w-1/2"):
            ui.label("Per class").classes("text-subtitle2")
            figures_table(report, f"per-class-{mark_id(name)}")
        with ui.column().classes("w-1/2"):
            ui.label("Most confused").classes("text-subtitle2")
            for pair in report["confused"]:
                ui.button(
                    f"{pair['target']} → {pair['predicted']}: {pair['count']}",
                    on_click=lambda _, p=pair: pick(p["target_index"], p["predicted_index"]),
                ).props("flat dense no-caps").props(f"data-ts=confused-pair-{mark_id(name)}")
            if not report["confused"]:
                ui.label("none: every sample is right").classes("text-xs")
    ui.label("Top losses").classes("text-subtitle2")
    sample_grid(studio, report, report["top_losses"], open_sample, f"top-losses-{mark_id(name)}")


def other_view(studio: Studio, report: dict[str, Any], name: str, open_sample: OpenSample) -> None:
    kind = report["kind"]
    if kind == "regression":
        ui.label(
            f"MAE {report['mae']:.4g} · RMSE {report['rmse']:.4g} · R² {report['r2']:.3f} "
            f"on {report['count']} {report['split']} samples"
        ).classes("text-sm").props(f"data-ts=interpret-summary-{mark_id(name)}")
        with ui.row().classes("w-full no-wrap"):
            ui.echart(probe_charts.scatter_option(report)).classes("w-1/2 h-72 ts-scatter")
            ui.echart(probe_charts.histogram_option(report)).classes("w-1/2 h-72 ts-residuals")
    else:
        figure = (
            f"mean IoU {report['mean_iou']:.3f}"
            if kind == "segmentation"
            else f"exact match {report['exact_match']:.1%}"
        )
        ui.label(f"{kind}: {figure} on {report['count']} {report['split']} samples").classes(
            "text-sm"
        ).props(f"data-ts=interpret-summary-{mark_id(name)}")
        figures_table(report, f"per-class-{mark_id(name)}")
    ui.label("Worst samples").classes("text-subtitle2")
    sample_grid(studio, report, report["worst"], open_sample, f"worst-{mark_id(name)}")


def run_label(run: Run) -> str:
    """A run as the interpretation's run picker lists it: number, name, status."""
    named = f" · {run.name}" if run.name else ""
    return f"{run.label}{named} · {run.status}"


def interpretation_panel(studio: Studio, live: Live, name: str, open_sample: OpenSample) -> None:
    """Interpret a run's best weights (any run of the model; the latest by default); its
    stored interpretation, redrawn on reload, marked when stale."""
    assert studio.probes is not None and studio.models is not None
    probes, models, project = studio.probes, studio.models, studio.models.project
    tag = mark_id(name)
    chosen: dict[str, Any] = {"run": None, "listing": False}  # run None: the latest

    def interpret() -> None:  # the run shown (the picker's), not another one with weights
        probes.spawn(probes.interpret(name, picker.value))

    with ui.row().classes("w-full items-center gap-2"):
        picker = ui.select({}, label="run").props(f"dense data-ts=interpret-run-{tag}")
        picker.classes("min-w-[12rem]")
        ui.button("Interpret", icon="insights", on_click=interpret).props(
            f"data-ts=interpret-{tag}"
        )
        ui.button("Stop", icon="stop", on_click=lambda: probes.cancel(name, "interpret")).props(
            "flat"
        ).props(f"data-ts=interpret-stop-{tag}")
        status = ui.label().classes("text-sm").props(f"data-ts=interpret-status-{tag}")

    @ui.refreshable
    def content() -> None:
        report = probes.interpretation(name, chosen["run"])
        if report is None:
            ui.label(probes.missing_line(name, chosen["run"])).classes("text-xs ts-hint").props(
                f"data-ts=interpret-missing-{tag}"
            )
            return
        ui.label(
            f"run {report['run']}, best weights of epoch {report['epoch']}"
            + (f" — stale: {report['stale']}" if report["stale"] else "")
        ).classes("text-xs" + (" text-orange-9" if report["stale"] else "")).props(
            f"data-ts=interpret-of-{tag}"
        )
        if report["kind"] == "classification":
            classification_view(studio, report, name, open_sample)
        else:
            other_view(studio, report, name, open_sample)

    content()

    def runs() -> list[Run]:
        return list(reversed(models.runs(name)))  # the newest first

    def list_runs(_: object = None) -> None:
        listed = runs()
        picker.set_options({run.number: run_label(run) for run in listed})
        numbers = [run.number for run in listed]
        if chosen["run"] not in numbers:
            chosen["run"] = None
        chosen["listing"] = True  # the list moved on, not the user: nothing to compute
        try:
            picker.set_value(
                chosen["run"] if chosen["run"] is not None else next(iter(numbers), None)
            )
        finally:
            chosen["listing"] = False

    def pick(event: Any) -> None:
        latest = next(iter(runs()), None)
        number = event.value
        chosen["run"] = None if latest is None or number in (None, latest.number) else number
        content.refresh()
        # A run the user picks that is not interpreted yet, and can be: computed now.
        if (
            not chosen["listing"]
            and number is not None
            and probes.job(name, "interpret").status != "running"
            and probes.interpretation(name, number) is None
            and probes.interpretable(name, number)
        ):
            probes.spawn(probes.interpret(name, number))

    picker.on_value_change(pick)

    def stored() -> Any:
        """Cheap: the runs and their statuses, how many interpretations were stored, and
        what a run's weights must fit (the model's code, the dataset)."""
        return (
            [(r["number"], r["status"]) for r in project.runs(name)],
            probes.stored.get(name, 0),
            models.code_fingerprint(name),
            studio.dataset.fingerprint() if studio.dataset is not None else None,
        )

    live.watch(["actions"], lambda _: status.set_text(job_line(probes, name, "interpret")),
               lambda: job_line(probes, name, "interpret"), model=name)  # fmt: skip
    live.watch(["epochs", "model"], list_runs, lambda: [(r.number, run_label(r)) for r in runs()],
               model=name)  # fmt: skip
    live.watch(
        ["weights", "epochs", "actions", "model", "dataset"], lambda _: content.refresh(), stored,
        model=name,
        now=False,
    )  # fmt: skip


def lr_panel(studio: Studio, live: Live, name: str) -> None:
    """Run the learning-rate range test; "Use" sets the optimizer's learning rate."""
    assert studio.probes is not None
    probes = studio.probes

    def use() -> None:
        curve = probes.curves.get(name)
        if not curve or not curve.get("suggestion"):
            return
        error = probes.use_lr(name, curve["suggestion"])
        ui.notify(error or f"the optimizer's learning rate is now {curve['suggestion']:.3g}",
                  type="negative" if error else "positive")  # fmt: skip

    with ui.row().classes("w-full items-center gap-2"):
        ui.button("Find", icon="search", on_click=lambda: probes.spawn(probes.find_lr(name))).props(
            f"data-ts=lr-find-{mark_id(name)}"
        )
        ui.button("Stop", icon="stop", on_click=lambda: probes.cancel(name, "lrfind")).props("flat")
        use_button = ui.button("Use", icon="check", on_click=use).props(
            f"data-ts=lr-use-{mark_id(name)}"
        )
        status = ui.label().classes("text-sm").props(f"data-ts=lr-status-{mark_id(name)}")
    chart = ui.echart({}).classes("w-full h-64").props(f"data-ts=lr-chart-{mark_id(name)}")

    def draw(_: object) -> None:
        curve = probes.curves.get(name)
        text = job_line(probes, name, "lrfind")
        if curve is not None and not text:
            shown = f"{curve['suggestion']:.3g}" if curve.get("suggestion") else "none"
            text = f"suggested learning rate {shown} ({curve['stopped']})"
        status.set_text(text)
        use_button.set_enabled(bool(curve and curve.get("suggestion")))
        chart.set_visibility(curve is not None)
        if curve is not None:
            chart.options.clear()
            chart.options.update(probe_charts.lr_option(curve))
            chart.update()

    def signature() -> Any:
        curve = probes.curves.get(name)
        return job_line(probes, name, "lrfind"), id(curve)

    live.watch(["actions"], draw, signature, model=name)
