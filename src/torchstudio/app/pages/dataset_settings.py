"""What the load found (counts, classes, tensors) and the settings that wrap the dataset."""

from __future__ import annotations

from typing import Any

from nicegui import ui

from torchstudio.app.catalog import module_key
from torchstudio.app.dataset.definition import ROLES, SHUFFLE_MODES, SPLIT_MODES
from torchstudio.app.dataset.service import DatasetService
from torchstudio.app.pages.layout import CODE_THEME
from torchstudio.app.pages.live import Live
from torchstudio.data.settings import PAD_SIDES


def summary(dataset: DatasetService, live: Live) -> None:
    """Counts, classes and tensor shapes of the last load."""

    @ui.refreshable
    def draw() -> None:
        report = dataset.report
        if not report:
            ui.label("Load the dataset to see its samples.").classes("ts-hint")
            return
        with ui.row().classes("gap-6 items-baseline"):
            ui.label(f"{report['train_count']} training samples").mark("train-count")
            ui.label(f"{report['valid_count']} validation samples").mark("valid-count")
            classes = report.get("classes") or []
            if classes:
                shown = ", ".join(classes[:20]) + (" ..." if len(classes) > 20 else "")
                ui.label(f"{len(classes)} classes: {shown}").mark("classes")
        for varying in report.get("varying") or []:
            ui.label(varying_text(varying)).classes("text-xs").mark("report-varying")
        model = (report.get("suggestions") or {}).get("model")
        if model:
            values = ", ".join(f"{k}={v}" for k, v in model["values"].items())
            ui.label(f"A model that fits: {model['name']}({values})").classes("text-xs").mark(
                "suggested-model"
            )
        for warning in report.get("warnings") or []:
            ui.label(warning).classes("text-xs text-warning").mark("report-warning")
        if dataset.report_stale:  # the code or settings changed: these counts may be wrong
            ui.label(dataset.report_stale).classes("text-xs text-warning").mark("report-stale")
        elif not dataset.loaded:
            ui.label("(from the last load: load again to browse the samples)").classes(
                "text-xs ts-hint"
            )

    draw()
    live.watch(
        ["dataset", "dataset.state"],
        lambda _: draw.refresh(),
        lambda: (dataset.generation, dataset.status, str(dataset.report), dataset.report_stale),
    )


def varying_text(varying: dict[str, Any]) -> str:
    """'tensor 0 varies in length: shape [3] to [12] (dim 0)' for the load report."""
    dims = ", ".join(str(d) for d in varying["dims"])
    return (
        f"tensor {varying['tensor']} varies in length: shape {varying['min']} to "
        f"{varying['max']} (dim {dims}); pad it to form batches"
    )


def padding_settings(dataset: DatasetService, live: Live) -> None:
    """Padding for a tensor that varies in length: value, side, length and an extra tensor."""

    @ui.refreshable
    def draw() -> None:
        varying = (dataset.report or {}).get("varying") or []
        padding = dataset.definition.settings.get("padding")
        if not varying and not padding:
            return
        first = varying[0] if varying else {"tensor": 0, "dims": [0]}
        current = dict(padding or {"tensor": first["tensor"], "dim": first["dims"][0]})
        with ui.row().classes("w-full items-end gap-3"):
            enabled = ui.checkbox(
                f"Pad tensor {current['tensor']} along dim {current.get('dim', 0)}",
                value=bool(padding),
            ).mark("padding-enabled")
            enabled.on_value_change(lambda e: change(enabled=e.value))
            if not padding:
                return
            value = ui.number("Pad value", value=current.get("value", 0.0), step=1)
            value.classes("w-24").props("dense").mark("padding-value")
            value.on("change", lambda: change(value=float(value.value or 0)))
            side = ui.select(list(PAD_SIDES), value=current.get("side", "right"), label="Side")
            side.classes("w-24").props("dense").mark("padding-side")
            side.on_value_change(lambda e: change(side=e.value))
            length = ui.number(
                "Length (0: batch's longest)", value=current.get("length") or 0, min=0, step=1
            )
            length.classes("w-44").props("dense").mark("padding-length")
            length.on("change", lambda: change(length=int(length.value or 0) or None))
            extra = ui.select(
                {"none": "No extra tensor", "lengths": "Lengths tensor", "mask": "Mask tensor"},
                value=current.get("extra", "none"),
                label="Extra input",
            )
            extra.classes("w-40").props("dense").mark("padding-extra")
            extra.on_value_change(lambda e: change(extra=e.value))

        def change(enabled: bool = True, **fields: Any) -> Any:
            # False: no padding, and none suggested at the next load.
            return dataset.configure(padding={**current, **fields} if enabled else False)

    draw()
    live.watch(
        ["dataset"],
        lambda _: draw.refresh(),
        lambda: (str(dataset.definition.settings.get("padding")), str(dataset.report)),
        now=False,
    )


def split_settings(dataset: DatasetService, live: Live) -> None:
    """Training samples (count or ratio), shuffle, seed, sample usage."""

    @ui.refreshable
    def draw() -> None:
        settings: dict[str, Any] = dataset.definition.settings
        by_count = settings.get("training_samples") is not None
        with ui.row().classes("w-full items-end gap-3"):
            mode = ui.toggle(
                {"ratio": "Split ratio", "count": "Training samples"},
                value="count" if by_count else "ratio",
            ).mark("split-mode")
            if by_count:
                field = ui.number(
                    "Training samples",
                    value=settings["training_samples"],
                    min=1,
                    step=1,
                    format="%d",
                ).mark("training-samples")
                field.on(
                    "change", lambda: dataset_configure(training_samples=int(field.value or 1))
                )
            else:
                field = ui.number(
                    "Training ratio",
                    value=settings.get("split_ratio", 0.8),
                    min=0.01,
                    max=1.0,
                    step=0.05,
                ).mark("split-ratio")
                field.on("change", lambda: dataset_configure(split_ratio=float(field.value or 0.8)))
            field.classes(f"w-36 ts-{'training-samples' if by_count else 'split-ratio'}")
            field.props("dense")

            def switch(value: str) -> Any:
                if value == "count":
                    count = dataset.split_count("train") or 100
                    return dataset_configure(training_samples=count)
                return dataset_configure(training_samples=None)

            mode.on_value_change(lambda e: switch(e.value))
            split = (
                ui.select(SPLIT_MODES, value=settings.get("split", "stratified"), label="Split")
                .classes("w-44")
                .props("dense")
                .mark("split-how")
            )
            split.tooltip("How `train` is split when the code defines no `valid`")
            split.on_value_change(lambda e: dataset_configure(split=e.value))
            shuffle = (
                ui.select(SHUFFLE_MODES, value=settings.get("shuffle", "none"), label="Shuffle")
                .classes("w-52")
                .props("dense")
                .mark("shuffle")
            )
            shuffle.on_value_change(lambda e: dataset_configure(shuffle=e.value))
            seed = ui.number("Seed", value=settings.get("seed", 0), step=1, format="%d")
            seed.classes("w-20").props("dense")
            seed.on("change", lambda: dataset_configure(seed=int(seed.value or 0)))
            usage = (
                ui.number(
                    "Sample usage ratio",
                    value=settings.get("usage_ratio", 1.0),
                    min=0.01,
                    max=1.0,
                    step=0.05,
                )
                .classes("w-36")
                .props("dense")
            )
            usage.mark("usage-ratio")
            usage.on("change", lambda: dataset_configure(usage_ratio=float(usage.value or 1.0)))

    def dataset_configure(**changes: Any) -> Any:
        # A failure shows as the dataset's error text, under the Load button.
        return dataset.configure(**changes)

    draw()
    live.watch(
        ["dataset"], lambda _: draw.refresh(), lambda: str(dataset.definition.settings), now=False
    )


def tensor_settings(dataset: DatasetService, live: Live) -> None:
    """Per tensor: shape, role and renderer (a module or custom code)."""
    renderers = {module_key(m): m.name for m in dataset.catalog.modules.get("renderers", [])}

    @ui.refreshable
    def draw() -> None:
        report = dataset.report
        if not report:
            return
        roles = list(dataset.definition.roles)
        entries = dataset.definition.renderers
        for index, tensor in enumerate(report["tensors"]):
            entry = entries[index] if index < len(entries) else {"module": None, "code": ""}
            with ui.row().classes("w-full items-center gap-3 no-wrap"):
                ui.label(f"Tensor {index}").classes("font-bold w-16")
                ui.label(f"{tensor['shape']} {tensor['dtype']}").classes("w-32 font-mono text-xs")
                role = (
                    ui.select(
                        list(ROLES),
                        value=roles[index] if index < len(roles) else "none",
                        label="Role",
                    )
                    .classes("w-28")
                    .props("dense")
                )
                role.mark(f"role-{index}")
                role.on_value_change(lambda e, i=index: set_role(i, e.value))
                options = dict(renderers)
                if entry.get("custom"):
                    options["custom"] = "Custom code"
                value = "custom" if entry.get("custom") else entry.get("module")
                renderer = (
                    ui.select(options, value=value if value in options else None, label="Renderer")
                    .classes("w-44")
                    .props("dense")
                )
                renderer.mark(f"renderer-{index}")
                renderer.on_value_change(
                    lambda e, i=index: e.value != "custom" and dataset.set_renderer(i, key=e.value)
                )
                with ui.expansion("Renderer code").classes("grow"):
                    editor = ui.codemirror(
                        entry.get("code", ""), language="Python", theme=CODE_THEME
                    )
                    editor.classes("w-full border").style("height: 160px")
                    ui.button(
                        "Apply code",
                        on_click=lambda ed=editor, i=index: dataset.set_renderer(i, code=ed.value),
                    ).props("flat dense")

    def set_role(index: int, role: str) -> None:
        roles = list(dataset.definition.roles)
        roles[index] = role
        dataset.set_roles(roles)

    draw()
    live.watch(
        ["dataset"],
        lambda _: draw.refresh(),
        lambda: (
            str(dataset.report and dataset.report["tensors"]),
            str(dataset.definition.roles),
            str(dataset.definition.renderers),
        ),
        now=False,
    )


def settings_panel(dataset: DatasetService, live: Live) -> None:
    with ui.card().classes("w-full"):
        summary(dataset, live)
        split_settings(dataset, live)
        padding_settings(dataset, live)
        tensor_settings(dataset, live)
