"""Analyze: the analyzer (suggested one preselected), progress, stop, report and weights."""

from __future__ import annotations

from nicegui import ui

from torchstudio.app.catalog import module_key
from torchstudio.app.dataset.service import DatasetService
from torchstudio.app.pages.live import Live


def analysis_panel(dataset: DatasetService, live: Live, salt: str) -> None:
    analyzers = {module_key(m): m.name for m in dataset.catalog.modules.get("analyzers", [])}
    with ui.card().classes("w-full"):
        ui.label("Analysis").classes("text-h6")
        with ui.row().classes("w-full items-center gap-2"):
            choice = ui.select(analyzers, label="Analyzer").classes("w-52").props("dense")
            choice.mark("analyzer")
            analyze = ui.button("Analyze", icon="insights", on_click=dataset.analyze)
            analyze.mark("analyze")
            stop = ui.button("Stop", icon="stop", on_click=dataset.stop_analysis)
            stop.props("flat color=negative").mark("stop-analysis")
            status = ui.label().classes("text-sm").mark("analysis-status")
        progress = ui.linear_progress(value=0, show_value=False).classes("w-full")
        # An analysis of another dataset (or analyzer) is marked, never shown as current.
        stale = ui.label().classes("text-sm text-warning").mark("analysis-stale")
        stale.props("data-ts=analysis-stale")

        @ui.refreshable
        def results() -> None:
            analysis = dataset.definition.analysis
            if not analysis:
                return
            with ui.row().classes("w-full gap-4 no-wrap items-start"):
                ui.element("img").props(
                    f'src="/api/dataset/analysis.png?v={dataset.version}&s={salt}" '
                    'style="max-width: 100%; width: 640px" data-ts=analysis-report'
                ).mark("analysis-report")
                classes = (dataset.report or {}).get("classes") or []
                rows = [
                    {"label": classes[i] if i < len(classes) else str(i), "weight": f"{w:.3f}"}
                    for i, w in enumerate(analysis.get("weights", []))
                ]
                ui.table(
                    columns=[
                        {"name": "label", "label": "Class", "field": "label"},
                        {"name": "weight", "label": "Weight", "field": "weight"},
                    ],
                    rows=rows,
                    pagination=0,
                ).props("dense flat").classes("ts-weights").mark("analysis-weights")

        results()

    choice.on_value_change(lambda e: e.value and dataset.set_analyzer(e.value))

    def show(signature: tuple) -> None:
        state, message, fraction, loaded, analyzer = signature
        running = state == "running"
        choice.set_value(analyzer)
        analyze.set_enabled(loaded and not running)
        stop.set_visibility(running)
        progress.set_visibility(running)
        progress.set_value(fraction or 0)
        status.set_text(state if not message else f"{state}: {message.splitlines()[-1]}")

    live.watch(
        ["dataset", "dataset.state"],
        show,
        lambda: (
            dataset.analysis_status,
            dataset.analysis_message,
            dataset.analysis_progress,
            dataset.loaded,
            (dataset.definition.analyzer or {}).get("module"),
        ),
    )
    live.watch(["dataset"], lambda _: results.refresh(), lambda: str(dataset.definition.analysis))

    def show_stale(reason: str | None) -> None:
        stale.set_text(reason or "")
        stale.set_visibility(bool(reason))

    live.watch(["dataset", "dataset.state"], show_stale, lambda: dataset.analysis_stale)
