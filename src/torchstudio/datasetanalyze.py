"""Dataset analysis worker: streams the dataset from `datasetload` into an analyzer.

Messages:
- `analyze` {"code", "link", "input_tensors_id", "output_tensors_id", "labels"?,
  "size"?, "dpi"?} (a background job; `cancel` stops it between samples) ->
  {"report": image, "weights": [...], "state": {...}, "samples": n}.
  `code` defines `analyzer`; `link` is the data server of `datasetload` (its `link`).
- `report` {"code", "state", "size", "dpi"?} -> the report image redrawn from a stored
  state, without analysing again.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from PIL import Image

from torchstudio.data.cache import CacheEntry, default_cache_dir
from torchstudio.data.handoff import fetch_dataset
from torchstudio.modules import Analyzer, safe_exec
from torchstudio.worker import Handlers, UserError, WorkerContext, run_worker

PROGRESS_EVERY = 1000


class AnalysisError(UserError):
    """The analyzer code failed, or the analysis was stopped."""


def make_analyzer(code: str) -> Analyzer:
    result = safe_exec(code, description="analyzer code")
    if not result.ok:
        raise AnalysisError(result.error)
    analyzer = result.namespace.get("analyzer")
    if analyzer is None or not callable(getattr(analyzer, "analyze_sample", None)):
        raise AnalysisError("the analyzer code must define `analyzer`, an Analyzer object")
    return analyzer


def _checked(call: Callable[[], Any], what: str) -> Any:
    result = safe_exec(call, description="analyzer code")
    if not result.ok:
        raise AnalysisError(f"the analyzer failed {what}:\n{result.error}")
    return result.value


def analyze(
    analyzer: Analyzer,
    entry: CacheEntry,
    input_ids: list[int],
    output_ids: list[int],
    labels: list[str],
    ctx: WorkerContext,
) -> int:
    """Feed every training then validation sample to the analyzer; returns the sample count."""
    splits = [
        (entry.split(name), name == "train")
        for name in ("train", "valid")
        if name in entry.split_names
    ]
    counts = {training: len(split) for split, training in splits}
    total = sum(counts.values())
    _checked(
        lambda: analyzer.start_analysis(
            counts.get(True, 0), counts.get(False, 0), input_ids, output_ids, labels
        ),
        "to start",
    )
    done = 0
    for split, training in splits:
        for index in range(len(split)):
            if ctx.cancelled:
                raise AnalysisError(f"analysis stopped after {done} of {total} samples")
            sample = split.arrays(index)
            result = safe_exec(
                analyzer.analyze_sample, args=(sample, training), description="analyzer code"
            )
            if not result.ok:
                raise AnalysisError(f"the analyzer failed on sample {index}:\n{result.error}")
            done += 1
            if done % PROGRESS_EVERY == 0:
                ctx.progress(done / total, f"analyzed {done}/{total} samples")
    _checked(analyzer.finish_analysis, "to finish")
    return done


def report_image(analyzer: Analyzer, size: Any, dpi: int) -> Image.Image:
    width, height = (int(v) for v in size)
    image = _checked(lambda: analyzer.generate_report((width, height), dpi), "to draw its report")
    if not isinstance(image, Image.Image):
        raise AnalysisError(
            f"generate_report returned {type(image).__name__}, expected a PIL image"
        )
    return image


class DatasetAnalyzeWorker:
    def __init__(self, cache_dir: str | None = None) -> None:
        self.cache_dir = cache_dir or os.environ.get("TORCHSTUDIO_CACHE") or default_cache_dir()
        self.handlers = Handlers()
        self.handlers.add("analyze", self.analyze, background=True)
        self.handlers.add("report", self.report)

    def analyze(self, value: dict[str, Any], ctx: WorkerContext) -> dict[str, Any]:
        analyzer = make_analyzer(value["code"])
        ctx.progress(0.0, "getting the dataset")
        entry = fetch_dataset(value["link"], self.cache_dir, lambda f, t: ctx.progress(0.0, t))
        labels = list(value.get("labels") or entry.meta.get("classes") or [])
        samples = analyze(
            analyzer,
            entry,
            list(value.get("input_tensors_id", [])),
            list(value.get("output_tensors_id", [])),
            labels,
            ctx,
        )
        image = report_image(analyzer, value.get("size", (800, 600)), int(value.get("dpi", 100)))
        state = _checked(analyzer.state_dict, "to save its state")
        return {
            "report": image,
            "weights": list(analyzer.weights),
            "state": state,
            "samples": samples,
        }

    def report(self, value: dict[str, Any], ctx: WorkerContext) -> Image.Image:
        analyzer = make_analyzer(value["code"])
        _checked(lambda: analyzer.load_state_dict(value["state"]), "to load its state")
        return report_image(analyzer, value.get("size", (800, 600)), int(value.get("dpi", 100)))


def main() -> None:
    raise SystemExit(run_worker(DatasetAnalyzeWorker().handlers, "datasetanalyze"))


if __name__ == "__main__":
    main()
