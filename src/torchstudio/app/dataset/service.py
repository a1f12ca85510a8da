"""The Dataset tab's service: the definition in the project, the workers that load, render
and analyze it, and the state every page shows (so a reload or a second tab sees the same).

The loader and the analyzer run where the definition says (`server`): this machine or a
server, through the app's `Servers`; the analyzer reads the loader's data link on that
machine. The renderer stays here: the samples' tensors come to the app anyway, and the
images it draws are for this app's pages.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
from pathlib import Path
from typing import Any

from torchstudio.app.catalog import Catalog
from torchstudio.app.dataset import definition as definition_logic
from torchstudio.app.dataset.definition import DatasetDefinition
from torchstudio.app.dataset.samples import SampleImages, error_image, png_bytes
from torchstudio.app.events import Topic
from torchstudio.app.fingerprint import short
from torchstudio.app.runtime.manager import WorkerDied, WorkerError, WorkerEvent, WorkerHandle
from torchstudio.app.runtime.pool import WorkerPool
from torchstudio.app.store.logbook import LogBook
from torchstudio.app.store.project import Project
from torchstudio.data.downloads import present_datasets
from torchstudio.remote.errors import RemoteError

LOADER, RENDERER, ANALYZER = "datasetload", "tensorrender", "datasetanalyze"
REPORT_BLOB = "analysis_report"
REPORT_SIZE = (900, 520)


class StaleResult(Exception):
    """A derived result was made from other inputs than those in use; the message says which."""


class DatasetService:
    """Everything the Dataset tab does; pages read its attributes and call its methods.

    Every change is announced on the project's change bus (`dataset`, `dataset.state`,
    `dataset.browse`).
    """

    def __init__(self, project: Project, pool: WorkerPool, catalog: Catalog, log: LogBook) -> None:
        self.project = project
        self.pool = pool
        self.catalog = catalog
        self.log = log
        stored = project.document("dataset")
        self.definition = (
            DatasetDefinition.from_json(stored)
            if stored
            else definition_logic.new_definition(catalog)
        )
        # The data fingerprint of what the loader holds (None: nothing loaded).
        self.loaded_data: str | None = None
        self.version = 0
        self.status = "not loaded"  # not loaded / loading / loaded / error / cancelled
        self.message = ""
        self.progress: float | None = None
        self.error: str | None = None
        self.error_line: int | None = None
        self.param_errors: dict[str, str] = {}
        self.link: dict[str, Any] | None = None
        self.generation = 0  # one per load/re-split: part of the sample images' cache key
        self.browse: dict[str, Any] = {"split": "train", "index": 0}
        self.analysis_status = "done" if self.definition.analysis else "idle"
        self.analysis_message = ""
        self.analysis_progress: float | None = None
        self._load_task: asyncio.Task[Any] | None = None
        self.images = SampleImages(self.loader, lambda: pool.get(RENDERER))
        self._unsubscribe = pool.manager.subscribe(self._on_event)

    # ------------------------------------------------------------------ state

    @property
    def report(self) -> dict[str, Any] | None:
        return self.definition.report

    # ------------------------------------------------------------------ provenance

    def fingerprint(self) -> str:
        """The dataset builds and runs use: the loaded data (else the definition's) and roles."""
        data = self.loaded_data or self.definition.data_fingerprint()
        return definition_logic.with_roles(data, self.definition.roles)

    def analysis_fingerprint(self) -> str:
        """What an analysis made now would be made from: the dataset, roles and analyzer code."""
        return definition_logic.analysis_fingerprint_of(
            self.fingerprint(), self.definition.analyzer_code()
        )

    @property
    def report_stale(self) -> str | None:
        """Why the load report no longer describes the definition (None: it does)."""
        report = self.definition.report
        if report is None or report.get("fingerprint") == self.definition.data_fingerprint():
            return None
        return "stale: the dataset's code or settings changed since this load: load it again"

    @property
    def analysis_stale(self) -> str | None:
        """Why the analysis (and its class weights) no longer fits the dataset (None: it does)."""
        return definition_logic.analysis_stale_reason(
            self.definition.analysis, self.analysis_fingerprint()
        )

    def class_weights(self) -> list[float] | None:
        """The analysis' class weights for this dataset; StaleResult when they are another's."""
        analysis = self.definition.analysis
        if not analysis:
            return None
        if self.analysis_stale:
            raise StaleResult(
                "class weights refused: the analysis was made from dataset "
                f"{short(analysis.get('dataset'))} and the dataset in use is "
                f"{short(self.fingerprint())} ({self.analysis_stale}); analyze the dataset "
                "again or turn Class weights off"
            )
        return [float(w) for w in analysis["weights"]]

    @property
    def loaded(self) -> bool:
        return self.status == "loaded" and self.link is not None

    def _changed(self, save: bool = True, topic: Topic = "dataset.state") -> None:
        """Store the definition (the store announces it), and announce the state change."""
        if save:
            self.project.set_document("dataset", self.definition.to_json())
        self.version += 1
        self.project.changes.emit(topic)

    def _on_event(self, event: WorkerEvent) -> None:
        if event.kind == "progress" and event.worker == LOADER and self.status == "loading":
            self.progress, self.message = event.data["fraction"], event.data["text"]
            self._changed(save=False)
        elif event.kind == "progress" and event.worker == ANALYZER:
            self.analysis_progress = event.data["fraction"]
            self.analysis_message = event.data["text"]
            self._changed(save=False)
        elif event.kind == "exited" and event.worker == LOADER and self.status == "loaded":
            self.status, self.link, self.loaded_data = "not loaded", None, None
            self.message = f"the dataset worker {event.data.get('text')}: load again"
            self._changed(save=False)

    def close(self) -> None:
        self._unsubscribe()

    # ------------------------------------------------------------------ where it runs

    @property
    def server(self) -> str | None:
        return self.definition.server

    async def _worker(self, script: str) -> WorkerHandle:
        try:
            return await self.pool.get(script, server=self.server)
        except RemoteError as exc:
            raise WorkerError(f"cannot start {script} on server {self.server!r}: {exc}") from exc

    async def loader(self) -> WorkerHandle:
        """The loader, on the dataset's machine (started there if needed)."""
        return await self._worker(LOADER)

    async def set_server(self, server: str | None) -> None:
        """Load and analyze on `server` (None: this machine) from now on; the data loaded
        elsewhere is let go: Load loads it there."""
        if server == self.server:
            return
        self.definition.server = server
        where = f"server {server}" if server else "this machine"
        if self.status in ("loaded", "loading"):
            self.status, self.link, self.loaded_data = "not loaded", None, None
            self.message = f"the dataset now loads on {where}: load it again"
        self._changed()
        for name in (LOADER, ANALYZER):
            await self.pool.stop(name)

    # ------------------------------------------------------------------ definition

    def module_info(self) -> Any:
        key = self.definition.module
        return self.catalog.find("datasets", key) if key else None

    def choose_module(self, key: str) -> None:
        info = self.catalog.find("datasets", key)
        if info is None:
            raise KeyError(f"no dataset module {key}")
        self.definition = definition_logic.choose_module(self.definition, info)
        self.param_errors = {}
        self._changed()

    def set_value(self, name: str, text: str) -> None:
        info = self.module_info()
        if info is None:
            return
        self.definition, self.param_errors = definition_logic.set_value(
            self.definition, info, name, text
        )
        self._changed()

    def set_code(self, code: str) -> None:
        if code == self.definition.code:
            return
        self.definition = definition_logic.edit_code(self.definition, code)
        self._changed()

    def data_root(self) -> Path:
        """The folder torchvision datasets are looked for in: the module's `root` value when
        it is a plain text, else `data`, from the dataset's working directory."""
        base = Path(self.definition.workdir or ".")
        text = self.definition.values.get("root")
        try:
            root = ast.literal_eval(text) if text else "data"
        except (ValueError, SyntaxError):
            root = "data"
        return base / root if isinstance(root, str) else base / "data"

    def present_vision_datasets(self) -> list[str]:
        """The torchvision datasets whose files are in `data_root()` (this machine only)."""
        names = [
            m.name for m in self.catalog.modules.get("datasets", []) if m.origin == "torchvision"
        ]
        return present_datasets(self.data_root(), names)

    def set_roles(self, roles: list[str]) -> None:
        self.definition.roles = list(roles)
        self._changed()

    def set_renderer(self, tensor: int, key: str | None = None, code: str | None = None) -> None:
        """Pick a renderer module for a tensor, or give it custom code."""
        renderers = self.definition.renderers
        if key is not None:
            info = self.catalog.find("renderers", key)
            if info is not None:
                renderers[tensor] = definition_logic.renderer_entry(self.catalog, info.name)
        if code is not None:
            renderers[tensor] = {**renderers[tensor], "code": code, "custom": True}
        self._changed()

    def set_analyzer(self, key: str) -> None:
        info = self.catalog.find("analyzers", key)
        if info is not None:
            self.definition.analyzer = definition_logic.analyzer_entry(self.catalog, info.name)
            self._changed()

    def set_browse(self, split: str | None = None, index: int | None = None) -> None:
        if split is not None:
            self.browse["split"] = split
        if index is not None:
            self.browse["index"] = int(index)
        count = self.split_count(self.browse["split"])
        self.browse["index"] = max(0, min(self.browse["index"], max(count - 1, 0)))
        self._changed(save=False, topic="dataset.browse")

    def split_count(self, split: str) -> int:
        report = self.report or {}
        return int(report.get("train_count" if split == "train" else "valid_count", 0))

    # ------------------------------------------------------------------ load and re-split

    async def load(self) -> bool:
        """Run the dataset code in `datasetload`; True when it loaded."""
        if self.status == "loading":
            return False
        self.status, self.progress, self.message = "loading", None, "starting the dataset worker"
        self.error = self.error_line = None
        self._changed(save=False)
        self._load_task = asyncio.current_task()
        data = self.definition.data_fingerprint()  # what is sent, whatever changes meanwhile
        try:
            loader = await self.loader()
            report = await loader.request(
                "load",
                {
                    "code": self.definition.code,
                    "workdir": self.definition.workdir,
                    "settings": definition_logic.settings_payload(self.definition),
                },
            )
        except asyncio.CancelledError:
            self.status, self.message = "cancelled", "loading cancelled"
            self._changed(save=False)
            return False
        except WorkerError as exc:
            cancelled = isinstance(exc, WorkerDied) and self.status == "cancelled"
            self._fail("loading cancelled" if cancelled else str(exc))
            return False
        finally:
            self._load_task = None
        self._loaded(report, data)
        self.log.add(
            "app",
            f"dataset loaded: {report['train_count']} training samples, "
            f"{report['valid_count']} validation samples",
        )
        padding = (report.get("suggestions") or {}).get("padding")
        if padding and self.definition.settings.get("padding") is None:
            # Samples of different lengths: the suggested padding, until the user says no
            # (False) or sets another.
            self.log.add("app", f"tensor {padding['tensor']} varies in length: padding it")
            return await self.configure(padding=padding)
        return True

    async def cancel_load(self) -> None:
        """Stop a load: the worker runs user code that cannot be interrupted, so it goes."""
        if self.status != "loading":
            return
        self.status, self.message = "cancelled", "loading cancelled"
        self._changed(save=False)
        await self.pool.stop(LOADER)

    def _fail(self, text: str) -> None:
        cancelled = self.status == "cancelled"
        self.status = "cancelled" if cancelled else "error"
        self.error = None if cancelled else text
        self.error_line = None if cancelled else definition_logic.error_line(text)
        self.message, self.progress, self.link = text, None, None
        self.loaded_data = None
        self._changed(save=False)

    def _loaded(self, report: dict[str, Any], data: str) -> None:
        self.link, self.loaded_data = report.get("link"), data
        self.definition = definition_logic.apply_report(self.definition, report, self.catalog, data)
        self.status, self.progress, self.message = "loaded", 1.0, ""
        self.generation += 1
        self.images.clear()
        self.set_browse(index=self.browse["index"])
        self._changed()

    async def configure(self, **settings: Any) -> bool:
        """Change split settings; re-splits the loaded dataset without running its code again."""
        self.definition.settings = {**self.definition.settings, **settings}
        self._changed()
        if not self.loaded:
            return True
        try:
            loader = await self.loader()
            payload = {"settings": definition_logic.settings_payload(self.definition)}
            data = self.definition.data_fingerprint()
            report = await loader.request("configure", payload)
        except WorkerError as exc:
            self.error, self.message = str(exc), str(exc)
            self._changed(save=False)
            return False
        self.error = None
        self._loaded(report, data)
        return True

    # ------------------------------------------------------------------ samples

    def _renderer_code(self, tensor: int) -> str:
        renderers = self.definition.renderers
        return renderers[tensor]["code"] if tensor < len(renderers) else ""

    async def sample_image(
        self, split: str, index: int, tensor: int, size: tuple[int, int], ahead: int = 2
    ) -> bytes:
        """A sample's tensor as PNG; then the next `ahead` samples' are rendered in advance."""
        if not self.loaded:
            return error_image("the dataset is not loaded", size)
        labels = list((self.report or {}).get("classes") or [])
        code = self._renderer_code(tensor)
        png = await self.images.image(self.generation, split, index, tensor, code, size, labels)
        for step in range(1, ahead + 1):
            if index + step < self.split_count(split):
                asyncio.ensure_future(
                    self.images.render_ahead(
                        self.generation, split, index + step, tensor, code, size, labels
                    )
                )
        return png

    async def draw_image(self, split: str, index: int, tensor: int, size: tuple[int, int]) -> bytes:
        """A new drawing of a sample's tensor as PNG: the augmentation preview draws the same
        sample several times (the dataset code runs for each, as in the fresh data mode)."""
        if not self.loaded:
            return error_image("the dataset is not loaded", size)
        labels = list((self.report or {}).get("classes") or [])
        return await self.images.drawing(
            split, index, tensor, self._renderer_code(tensor), size, labels
        )

    # ------------------------------------------------------------------ analysis

    async def analyze(self) -> bool:
        """Run the analyzer over every sample in `datasetanalyze`; True when it finished."""
        if self.analysis_status == "running" or not self.loaded:
            return False
        analyzer = self.definition.analyzer or {}
        inputs, outputs = definition_logic.tensor_ids(self.definition.roles)
        made_from = self.analysis_fingerprint(), self.fingerprint()
        self.analysis_status, self.analysis_progress = "running", 0.0
        self.analysis_message = "starting the analysis worker"
        self._changed(save=False)
        try:
            worker = await self._worker(ANALYZER)
            result = await worker.request(
                "analyze",
                {
                    "code": analyzer.get("code", ""),
                    "link": self.link,
                    "input_tensors_id": inputs,
                    "output_tensors_id": outputs,
                    "labels": (self.report or {}).get("classes") or [],
                    "size": list(REPORT_SIZE),
                },
            )
        except WorkerError as exc:
            stopped = "analysis stopped" in str(exc)
            self.analysis_status = "stopped" if stopped else "error"
            self.analysis_message = str(exc)
            self.analysis_progress = None
            self._changed(save=False)
            return False
        report_png = await asyncio.to_thread(png_bytes, result["report"])
        with self.project.transaction():
            self.project.set_blob(REPORT_BLOB, report_png)
            self.definition.analysis = {
                "weights": [float(w) for w in result["weights"]],
                "state": result["state"],
                "samples": result["samples"],
                "analyzer": analyzer.get("module"),
                "fingerprint": made_from[0],  # dataset, roles and analyzer code
                "dataset": made_from[1],  # dataset and roles: named when refusing weights
            }
            self._changed()
        self.analysis_status, self.analysis_progress = "done", 1.0
        self.analysis_message = f"analyzed {result['samples']} samples"
        self.log.add("app", self.analysis_message)
        self._changed(save=False)
        return True

    async def stop_analysis(self) -> None:
        worker = self.pool.running(ANALYZER)
        if worker is not None and self.analysis_status == "running":
            with contextlib.suppress(WorkerError):
                await worker.request("cancel")

    def report_png(self) -> bytes | None:
        return self.project.blob(REPORT_BLOB)
