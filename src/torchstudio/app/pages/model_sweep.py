"""The Model tab's Sweep card: a search space, N trials P at a time, and the results."""

from __future__ import annotations

import contextlib
from typing import Any

from nicegui import background_tasks, ui

from torchstudio.app.catalog import form_parameters
from torchstudio.app.models.overrides import OverrideError, parse_set
from torchstudio.app.models.service import ModelError
from torchstudio.app.pages.live import Live
from torchstudio.app.pages.model_editor import mark_id
from torchstudio.app.studio import Studio
from torchstudio.app.sweeps import charts
from torchstudio.app.sweeps.space import (
    DEFAULT_SPACE,
    Dimension,
    SpaceError,
    form_key,
    parse_space,
    suggested_dimension,
    with_form_parameters,
)

COLUMNS = [
    {"name": key, "label": key, "field": key, "align": "left", "sortable": key != "settings"}
    for key in ("trial", "state", "value", "run", "epochs", "settings")
]


def sweep_panel(studio: Studio, live: Live, name: str) -> None:
    assert studio.sweeps is not None
    sweeps = studio.sweeps
    tag = mark_id(name)
    stored = sweeps.results(name)
    start_space = charts.space_text(
        tuple(_dims(stored["space"])) if stored and stored.get("space") else DEFAULT_SPACE
    )
    with ui.row().classes("w-full items-start gap-4 flex-wrap md:flex-nowrap"):
        with ui.column().classes("w-full md:w-1/2 gap-1"):
            searched = (
                ui.select([], multiple=True, label="model parameters to search", clearable=True)
                .props(f"dense use-chips data-ts=sweep-form-{tag}")
                .classes("w-full")
            )
            space = ui.textarea("search space (TOML)", value=start_space)
            space.props("outlined autogrow").classes("w-full font-mono text-xs")
            space.props(f"data-ts=sweep-space-{tag}")
        with ui.column().classes("gap-1 min-w-[10rem]"):
            trials = ui.number("trials", value=20, min=1, step=1, format="%d").props("dense")
            parallel = ui.number("at a time", value=2, min=1, step=1, format="%d").props("dense")
            epochs = ui.input("epochs per trial", placeholder="the model's").props("dense")
            trials.props(f"data-ts=sweep-trials-{tag}")
            parallel.props(f"data-ts=sweep-parallel-{tag}")
            epochs.props(f"data-ts=sweep-epochs-{tag}")
            afresh = ui.checkbox("afresh (forget the earlier trials)").props(
                f"dense data-ts=sweep-afresh-{tag}"
            )

    def form() -> dict[str, Dimension]:
        """The model form's parameters, each with a first range from its value now."""
        return form_dimensions(studio, name)

    def shown_form() -> None:
        """The picker offers the form's parameters and shows those the space searches."""
        offered = form()
        try:
            keys = [d.key for d in parse_space(space.value or "", "the search space")]
        except SpaceError:
            keys = []
        searched.set_options({key: key.removeprefix(form_key("")) for key in offered})
        searched.set_value([key for key in keys if key in offered])
        searched.set_visibility(bool(offered))

    def pick_form(event: Any) -> None:
        offered = form()
        chosen = {key: offered[key] for key in event.value or [] if key in offered}
        try:
            current = parse_space(space.value or "", "the search space")
        except SpaceError:
            current = ()  # an unreadable text: start again from the picked parameters
        if {d.key for d in current if d.key.startswith(form_key(""))} == set(chosen):
            return
        space.set_value(charts.space_text(with_form_parameters(current, chosen)))

    searched.on_value_change(pick_form)

    def start() -> None:
        try:
            chosen = parse_space(space.value or "", "the search space")
            given = [parse_set(f"epochs={epochs.value.strip()}", "epochs per trial")] if (
                epochs.value or ""
            ).strip() else []  # fmt: skip
        except (SpaceError, OverrideError) as exc:
            ui.notify(str(exc), type="negative", multi_line=True)
            return
        count, at_once = int(trials.value or 1), int(parallel.value or 1)
        fresh = bool(afresh.value)

        async def run() -> None:  # in the app: closing the tab does not stop it
            with contextlib.suppress(ModelError):  # the state's message says why
                await sweeps.run(name, count, at_once, chosen, given, fresh=fresh)

        background_tasks.create(run())

    def adopt(params: dict[str, Any]) -> None:
        try:
            sweeps.adopt(name, params)
        except (OverrideError, ValueError) as exc:
            ui.notify(str(exc), type="negative")
            return
        ui.notify("the best trial's settings are now the model's", type="positive")

    with ui.row().classes("items-center gap-2"):
        ui.button("Start sweep", icon="tune", on_click=start).props(f"data-ts=sweep-start-{tag}")
        ui.button("Stop", icon="stop", on_click=lambda: sweeps.stop(name)).props("flat")
        status = ui.label().classes("text-sm").props(f"data-ts=sweep-status-{tag}")

    @ui.refreshable
    def results() -> None:
        shown = sweeps.results(name)
        if shown is None or not shown["records"]:
            ui.label("No trials yet.").classes("text-xs ts-hint")
            return
        best = shown["best"]
        if best is not None:
            with ui.row().classes("items-center gap-2"):
                settings = ", ".join(
                    f"{k} {charts.value_text(v)}" for k, v in best["params"].items()
                )
                ui.label(
                    f"best: trial {best['trial']} (run {best['run']}), {shown['direction']}d "
                    f"value {best['value']:.4f} with {settings}"
                ).classes("text-sm").props(f"data-ts=sweep-best-{tag}")
                ui.button(
                    "Make these the model's settings", on_click=lambda: adopt(best["params"])
                ).props(f"flat dense data-ts=sweep-adopt-{tag}")
        keys = [d["key"] for d in shown.get("space") or []] or sorted(
            {k for r in shown["records"] for k in r["params"]}
        )
        with ui.row().classes("w-full no-wrap"):
            ui.echart(charts.parallel_option(shown["records"], keys)).classes(
                "w-2/3 h-64 ts-sweep-parallel"
            )
            if shown["importances"]:
                ui.echart(charts.importance_option(shown["importances"])).classes(
                    "w-1/3 h-64 ts-sweep-importances"
                )
        ui.table(columns=COLUMNS, rows=charts.trial_rows(shown["records"]), row_key="trial").props(
            f"dense flat data-ts=sweep-trials-table-{tag}"
        ).classes("w-full")

    results()

    def line() -> str:
        state = sweeps.state(name)
        if state.status == "idle":  # none ran since the app started
            if stored and stored["trials"]:  # a stop, or a restart: Start goes on
                return (
                    f"{stored['trials']} trials in this model's study: Start goes on to the "
                    "trials asked (afresh: a new study)"
                )
            return ""
        return f"{state.status}: {len(state.records)}/{state.trials} trials · {state.message}"

    live.watch(["actions"], lambda _: status.set_text(line()), line, model=name)
    live.watch(["model"], lambda _: shown_form(), lambda: tuple(form().items()), model=name)
    live.watch(
        ["actions"], lambda _: results.refresh(),
        lambda: (sweeps.state(name).status, len(sweeps.state(name).records)),
        model=name, now=False,
    )  # fmt: skip


def _dims(data: list[dict[str, Any]]) -> list[Any]:
    return [Dimension.from_json(d) for d in data]


def form_dimensions(studio: Studio, name: str) -> dict[str, Dimension]:
    """The form parameters of model `name`'s module (none when its code is typed by hand),
    each with a first range from its value now."""
    assert studio.models is not None
    document = studio.models.document(name)
    info = studio.catalog.find("models", document.module) if document.module else None
    if info is None or document.code_edited:
        return {}
    dimensions = {}
    for parameter in form_parameters(info):
        text = document.values.get(str(parameter["name"])) or str(parameter["default"])
        dimension = suggested_dimension(
            str(parameter["name"]), str(parameter["annotation"] or ""), text
        )
        dimensions[dimension.key] = dimension
    return dimensions
