"""The Dashboard: every model in a sortable table, start/stop all, curves compared, parameters."""

from __future__ import annotations

from typing import Any

from nicegui import background_tasks, ui

from torchstudio.app.models.charts import EVERY
from torchstudio.app.models.runs import diff_line
from torchstudio.app.models.views import leader
from torchstudio.app.pages.live import Live
from torchstudio.app.pages.navigation import Navigation
from torchstudio.app.studio import Studio


def _column(name: str, label: str) -> dict[str, Any]:
    return {"name": name, "label": label, "field": name, "sortable": True, "align": "left"}


COLUMNS = [
    _column("name", "Model"),
    _column("run", "Run"),
    _column("run_name", "Run name"),
    _column("status", "Status"),
    _column("dataset", "Dataset"),  # its short fingerprint: (loaded) or (other)
    _column("settings", "Settings"),
    _column("parameters", "Parameters"),
    _column("device", "Trains on"),  # the server (or this machine) and its devices
    _column("epochs", "Epochs"),
    _column("train_loss", "Best train loss"),
    _column("valid_loss", "Best valid loss"),
    _column("train_metric", "Train metric"),
    _column("valid_metric", "Valid metric"),
    _column("seconds", "Time (s)"),
]


def rounded(row: dict[str, Any]) -> dict[str, Any]:
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}


PALETTE = ["#d94e5d", "#eac736", "#50a3ba"]


def parallel_option(axes: list[dict[str, Any]], names: list[str]) -> dict[str, Any]:
    """An ECharts parallel-coordinates option from parametersplot's axes."""
    dims = []
    for index, axis in enumerate(axes):
        dim: dict[str, Any] = {"dim": index, "name": axis["name"]}
        if axis["type"] == "category":
            dim.update(type="category", data=axis.get("categories") or [])
        elif axis["type"] == "log":
            dim["type"] = "log"
        dims.append(dim)
    data = [
        {"name": name, "value": [axis["values"][i] for axis in axes]}
        for i, name in enumerate(names)
    ]
    # Dragging along an axis selects a range there (ECharts' axis brushing): the models
    # outside it fade, so hyperparameters can be explored against the results.
    option: dict[str, Any] = {
        "title": {
            "text": "Parameters (drag along an axis to filter)",
            "textStyle": {"fontSize": 12},
        },
        "tooltip": {"trigger": "item"},
        "parallel": {"top": 76, "left": 40, "right": 110},
        "parallelAxis": dims,
        "series": [
            {
                "type": "parallel",
                "data": data,
                "lineStyle": {"width": 3, "opacity": 0.8},
                "inactiveOpacity": 0.08,
                "activeOpacity": 1,
                "emphasis": {"lineStyle": {"width": 5}},
            }
        ],
        # Names on alternate heights and small labels: neighbouring axes do not collide.
        "parallelAxisDefault": {"nameTextStyle": {"fontSize": 11}, "axisLabel": {"fontSize": 10}},
    }
    for dim in dims[1::2]:
        dim["nameGap"] = 28
    colour_by = next(
        (i for i in reversed(range(len(axes))) if axes[i]["type"] != "category" and
         axes[i]["name"].startswith("valid")),
        None,
    )  # fmt: skip
    values = (
        [v for v in axes[colour_by]["values"] if v is not None] if colour_by is not None else []
    )
    if values:  # each line coloured by the result: the best models stand out
        option["visualMap"] = {
            "type": "continuous",
            "dimension": colour_by,
            "min": min(values),
            "max": max(values) if max(values) > min(values) else min(values) + 1,
            # Blue is best: a high metric, a low loss.
            "inRange": {"color": PALETTE[::-1] if "loss" in axes[colour_by]["name"] else PALETTE},
            "text": [axes[colour_by]["name"], ""],
            "right": 0,
            "top": "middle",
            "itemHeight": 80,
            "itemWidth": 12,
        }
    return option


def validation_only(option: dict[str, Any]) -> dict[str, Any]:
    """A curves chart with only the validation series: the models compared as they generalize."""
    series = [s for s in option.get("series") or [] if str(s.get("name", "")).endswith(" valid")]
    legend = {**option.get("legend", {}), "data": [s["name"] for s in series]}
    title = {**option.get("title", {}), "text": "Validation metric"}
    return {**option, "series": series, "legend": legend, "title": title}


def dashboard_tab(studio: Studio, live: Live, navigation: Navigation) -> None:
    if studio.project is None or studio.training is None or studio.views is None:
        ui.label("Open or create a project (Project menu).")
        return
    project, training, views, charts = studio.project, studio.training, studio.views, studio.charts
    assert charts is not None
    with ui.row().classes("w-full items-center gap-2"):
        ui.button("Start all", icon="play_arrow", on_click=training.start_all).mark("start-all")
        ui.button("Stop all", icon="stop", on_click=training.stop_all).props("color=negative").mark(
            "stop-all"
        )
        ui.label("Click a row to open its model; select rows to compare them.").classes(
            "text-sm ts-hint"
        )
    top = ui.label().classes("text-subtitle1").props("data-ts=leader").mark("leader")
    # One row per run of each model (a model not trained yet: one row without a run).
    table = ui.table(columns=COLUMNS, rows=[], row_key="key", selection="multiple")
    table.classes("w-full").mark("models-table")
    # Two runs selected: the settings (and dataset, code) they differ in.
    differences = ui.label().classes("text-sm").mark("runs-diff")
    with ui.row().classes("w-full gap-2 flex-wrap md:flex-nowrap"):
        compare = ui.echart({}).classes("w-full md:w-1/2 h-72 ts-compare").mark("compare-chart")
        parallel = ui.echart({}).classes("w-full md:w-1/2 h-72 ts-parameters")
        parallel.mark("parameters-chart")

    def open_model(e: Any) -> None:
        row = e.args[1] if isinstance(e.args, list) and len(e.args) > 1 else {}
        if row.get("name"):
            navigation.show_model(row["name"])

    table.on("rowClick", open_model)

    def show_rows(_: object) -> None:
        rows = []
        for name in project.model_names():
            runs = studio.models.runs(name) if studio.models else []
            rows += [rounded(views.summary(name, run)) for run in runs or [None]]
        for row in rows:  # a live training's state is fresher than the project's
            run = training.runs.get(row["name"])
            if not row["latest"]:
                continue
            if training.running(row["name"]):
                row["status"] = (
                    "not responding" if run and run.status == "not responding" else "training"
                )
            elif run is not None and run.status == "error":
                row["status"] = "error"  # the message is on the model's tab: click the row
        table.rows = rows
        top.set_text(leader(rows))
        keys = compared["names"]
        kept = [r for r in rows if keys is None or r["key"] in keys]
        table.selected = kept or rows  # nothing chosen: compare them all
        table.update()
        show_differences()

    def show_differences() -> None:
        chosen = [r for r in table.selected if r.get("run")]
        if len(chosen) != 2 or studio.models is None:
            differences.set_text("Select two runs to see the settings they differ in.")
            return
        first, second = (
            next(x for x in studio.models.runs(r["name"]) if x.number == r["run"]) for r in chosen
        )
        differences.set_text(diff_line(first, second))

    drawn = {"request": 0}
    client = ui.context.client

    async def draw(metric: dict[str, Any] | None, plot: dict[str, Any], request: int) -> None:
        await client.connected()  # a change sent before the page is connected would be lost
        # A newer drawing may have started meanwhile, or the page gone away: drop this one.
        if compare.is_deleted or request != drawn["request"]:
            return
        if metric is not None:
            compare.options.clear()
            compare.options.update(validation_only(metric))
            compare.update()
        parallel.options.clear()
        parallel.options.update(parallel_option(plot["axes"], plot["models"]))
        parallel.update()

    async def show_charts(_: object) -> None:
        drawn["request"] += 1
        request = drawn["request"]
        chosen = {r["name"] for r in table.selected}
        if compared["names"] is None or chosen == set(project.model_names()):
            # Every model: the comparison drawn once for every page (charts.py).
            comparison = charts.comparison
            if comparison is None:
                charts.want(EVERY)  # drawn once something is trained: a "charts" change
                return
            await draw(comparison["metric"], comparison["parameters"], request)
            return
        names = [n for n in project.model_names() if n in chosen]  # this page's own choice
        if not any(row["epochs"] for row in table.rows if row["name"] in names):
            return  # nothing trained yet: no plotting worker to start
        series = await views.curves(names, which="metric")
        plot = await views.parameters_plot(names)
        await draw(series.get("metric"), plot, request)

    compared: dict[str, set[str] | None] = {"names": None}  # None: every model

    def picked() -> None:
        compared["names"] = {r["key"] for r in table.selected}
        show_differences()
        background_tasks.create(show_charts(None))

    table.on("selection", picked)

    def training_states() -> tuple:
        # What a row shows of a live training: not its progress, which changes all the time.
        return tuple(
            (n, training.running(n), training.run(n).status, training.run(n).epoch)
            for n in training.runs
        )

    # Rows: the models and their runs, and whether each run was made on the dataset in use.
    live.watch(["models", "model", "epochs", "actions", "devices", "dataset"], show_rows)
    live.watch(["training"], show_rows, training_states, now=False)
    live.watch(
        ["charts", "models"],
        lambda value: background_tasks.create(show_charts(value)),
        lambda: (charts.comparison, compared["names"] and tuple(project.model_names())),
    )
