"""The app's state: the open project, the worker manager, the module catalog, the services.

One `Studio` per app process. Pages and the headless runner use it alike; opening another
project swaps the project and the services, the workers' manager stays.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torchstudio.app.catalog import Catalog
from torchstudio.app.checked import DocumentError
from torchstudio.app.dataset.definition import DatasetDefinition
from torchstudio.app.dataset.service import DatasetService
from torchstudio.app.events import ChangeBus
from torchstudio.app.models.actions import ModelActions
from torchstudio.app.models.charts import Charts
from torchstudio.app.models.document import ModelDocument
from torchstudio.app.models.probing import Probes
from torchstudio.app.models.service import ModelService
from torchstudio.app.models.training import TrainingService
from torchstudio.app.models.views import ModelViews
from torchstudio.app.runtime.manager import WorkerManager
from torchstudio.app.runtime.remote_servers import ServerBook, Servers
from torchstudio.app.runtime.server_desk import ServerDesk
from torchstudio.app.store import recent
from torchstudio.app.store.logbook import LogBook
from torchstudio.app.store.project import Project, ProjectError
from torchstudio.app.store.trust import (
    GatedPool,
    ProjectCode,
    TrustStore,
    fingerprint,
    read_code,
    summary,
)
from torchstudio.app.sweeps.service import SweepService

LOG_FLUSH_SECONDS = 1.0


def open_checked(path: str | os.PathLike[str]) -> Project:
    """Open a project file and check its typed documents: ProjectError names what is wrong."""
    project = Project.open(path)
    documents = [("document 'dataset'", DatasetDefinition.from_json, project.document("dataset"))]
    documents += [
        (f"model {n!r}", ModelDocument.from_json, project.model(n)) for n in project.model_names()
    ]
    for where, read, value in documents:
        try:
            read(value)
        except DocumentError as exc:
            project.close()
            raise ProjectError(
                f"the project {project.path}: {where}: {exc}; nothing was loaded"
            ) from None
    return project


class Studio:
    """The open project and everything working on it."""

    def __init__(
        self, env: Mapping[str, str] | None = None, trust: TrustStore | None = None
    ) -> None:
        self.catalog = Catalog()
        self.changes = ChangeBus()  # every committed change, for the pages that show it
        self.manager = WorkerManager()
        # The remote servers models may train on (entries in the user's folder, no secrets).
        self.servers = Servers(ServerBook(str(recent.home() / "servers.json")))
        self.servers.book.on_change = lambda: self.changes.emit("servers")
        # The Servers dialog's state: each machine's check, host keys, installs.
        self.desk = ServerDesk(self.servers, lambda: self.changes.emit("servers"))
        # With a trust store (the app), an untrusted project's code waits for the user's
        # consent; without one (headless runs, library use) the caller vouches for it.
        self.trust = trust
        self.trusted = True
        self.untrusted_code: list[str] = []  # the code parts to show while untrusted
        self._trusted_print = ""
        self._trusted_folders: dict[str, str] = {}  # folder label -> fingerprint, as trusted
        self._trust_lock = threading.Lock()  # checked from the loop's threads and the pool's
        self.pool = GatedPool(self.manager, env, allowed=self.check_trust, servers=self.servers)
        self.project: Project | None = None
        self.log = LogBook(on_change=self._log_changed)
        self.dataset: DatasetService | None = None
        self.models: ModelService | None = None
        self.training: TrainingService | None = None
        self.views: ModelViews | None = None
        self.actions: ModelActions | None = None
        self.charts: Charts | None = None
        self.probes: Probes | None = None  # interpretations, learning-rate range tests
        self.sweeps: SweepService | None = None
        self.ready = asyncio.Event()  # set once started and the first project is open
        self.salt = secrets.token_hex(4)  # in image URLs: no browser cache across app runs
        # Log lines and code changes are saved in one go a second after they happen (one
        # write a second at most, not one per line of worker output), never on a timer.
        self._save_handle: asyncio.TimerHandle | None = None
        self._saving: asyncio.Task[Any] | None = None
        self._flush_error = ""
        self._unsubscribe = self.manager.subscribe(self.log.on_worker_event)
        self.changes.subscribe(["log", "dataset", "model", "models"], self._save_soon)

    async def start(self) -> None:
        self.changes.bind(asyncio.get_running_loop())
        await self.manager.start()
        # Library modules (torchvision, torch...) come from a cache: fast, but still I/O.
        await asyncio.to_thread(self.catalog.scan)

    async def close(self) -> None:
        if self._save_handle is not None:
            self._save_handle.cancel()
            self._save_handle = None
        if self._saving is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._saving
        self._flush()
        self.check_trust()
        await self.manager.close()
        await self.servers.close()
        if self.training is not None:
            self.training.close()
        if self.probes is not None:
            self.probes.close()
        if self.charts is not None:
            self.charts.close()
        if self.dataset is not None:
            self.dataset.close()
        if self.project is not None:
            self.project.close()

    def _log_changed(self) -> None:
        self.changes.emit("log")

    def _flush(self) -> None:
        if self.project is not None:
            self.log.flush(self.project.add_logs)

    def _save_soon(self, _: object = None) -> None:
        """Save the new log lines and the trust record of changed code in a second."""
        if self._save_handle is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (a studio used without starting it): close() saves
            return
        self._save_handle = loop.call_later(LOG_FLUSH_SECONDS, self._start_saving)

    def _start_saving(self) -> None:
        self._save_handle = None
        self._saving = asyncio.ensure_future(self._save())

    async def _save(self) -> None:
        try:
            self._flush()
        except Exception as exc:  # a full disk must not end the saving of later lines
            if str(exc) != self._flush_error:
                print(f"TorchStudio: the log could not be saved: {exc}", file=sys.stderr)
            self._flush_error = str(exc)
            self._save_soon()  # the lines are kept: try again (space may come back)
        else:
            self._flush_error = ""
        # Reading the project's code is I/O: not on the loop that answers the pages.
        await asyncio.to_thread(self.check_trust)

    def check_trust(self) -> bool:
        """Whether the open project's code may run; keeps the trust record in step.

        Only the app's own edits re-record the trust (as Jupyter re-signs a notebook it
        saves): the project file written by another process (SQLite's data version tells),
        or a file changed in a folder its code imports from (modules/, a workdir), makes
        the project untrusted again: the banner comes back and nothing runs until the user
        trusts it. Called after the app's changes and before any worker that runs code.
        """
        with self._trust_lock:
            if self.trust is None or self.project is None:
                return True
            if not self.trusted:
                return False
            code = read_code(self.project)
            changed = [
                label.rstrip("/" + os.sep)
                for label, digest in code.folders.items()
                if label in self._trusted_folders and self._trusted_folders[label] != digest
            ]
            if self.project.changed_outside():
                changed.insert(0, f"the project file {self.project.path}")
            if changed:
                self._distrust(code, changed)
                return False
            current = fingerprint(code.parts)
            if current != self._trusted_print:
                self.trust.trust(self.project, current)
                self._trusted_print = current
            self._trusted_folders = code.folders  # a folder the user just chose is theirs
            return True

    def _distrust(self, code: ProjectCode, changed: list[str]) -> None:
        self.trusted, self.untrusted_code = False, summary(code.parts)
        self._trusted_print = ""
        self.log.add(
            "app",
            f"changed outside the app while open: {', '.join(changed)}. The project is "
            "untrusted again: its code runs only once you trust it (see the banner)",
        )
        self.changes.emit("project")

    def trust_project(self) -> None:
        """The user allows the open project's code to run: recorded for the next times."""
        if self.project is None:
            return
        with self._trust_lock:
            if self.trust is not None:
                code = read_code(self.project)
                self._trusted_print = fingerprint(code.parts)
                self._trusted_folders = code.folders
                self.trust.trust(self.project, self._trusted_print)
            self.project.mark_seen()  # what the user read is now the reference
            self.trusted, self.untrusted_code = True, []
        self.changes.emit("project")
        self.log.add("app", f"trusted {self.project.path}: its code may run")

    def _judge_trust(self, project: Project, created_here: bool) -> None:
        with self._trust_lock:
            project.mark_seen()
            if self.trust is None:
                self.trusted, self.untrusted_code = True, []
                return
            code = read_code(project)
            current = fingerprint(code.parts)
            if created_here:
                self.trust.trust(project, current)
            self.trusted = self.trust.is_trusted(project, current)
            self._trusted_print = current if self.trusted else ""
            self._trusted_folders = code.folders if self.trusted else {}
            self.untrusted_code = [] if self.trusted else summary(code.parts)

    # ------------------------------------------------------------------ projects

    def _use(self, project: Project) -> None:
        self._flush()
        if self.dataset is not None:
            self.dataset.close()
        if self.training is not None:
            self.training.close()
        if self.probes is not None:
            self.probes.close()
        if self.project is not None and self.project is not project:
            self.project.close()
        self.project = project
        project.changes = self.changes
        self.log = LogBook(project.logs(500), on_change=self._log_changed)
        self._unsubscribe()
        self._unsubscribe = self.manager.subscribe(self.log.on_worker_event)
        modules = project.path.parent / "modules"
        if modules.is_dir():
            self.catalog.scan(modules)
        self.dataset = DatasetService(project, self.pool, self.catalog, self.log)
        self.models = ModelService(project, self.pool, self.dataset, self.servers)
        self.training = TrainingService(self.models)
        self.views = ModelViews(self.models)
        if self.charts is not None:
            self.charts.close()
        self.charts = Charts(self.views)
        self.actions = ModelActions(self.models, self.views)
        self.probes = Probes(self.models)
        self.sweeps = SweepService(self.models)
        self.changes.emit("project")
        recent.remember(project.path)

    async def _stop_dataset_workers(self) -> None:
        from torchstudio.app.dataset.service import ANALYZER, LOADER

        for name in (LOADER, ANALYZER):
            await self.pool.stop(name)

    async def open(self, path: str | os.PathLike[str]) -> None:
        """Open a project file; ProjectError with the reason when it cannot be used."""
        project = await asyncio.to_thread(open_checked, path)
        await self._stop_dataset_workers()
        await asyncio.to_thread(self._judge_trust, project, False)
        self._use(project)
        self.log.add("app", f"opened {project.path}")
        for notice in project.notices:  # what opening had to repair in the file
            self.log.add("app", notice)

    async def new(self, path: str | os.PathLike[str], demo: bool = False) -> None:
        """Create a project (empty, or the demo) and open it."""
        from torchstudio.app.demo import write_demo

        target = Path(path).expanduser()
        if target.suffix != ".tsproj":
            target = target.with_name(target.name + ".tsproj")
        if target.exists():
            raise ProjectError(f"{target.resolve()} already exists: open it, or pick another name")
        if demo:
            project = await asyncio.to_thread(write_demo, target, self.catalog)
        else:
            project = await asyncio.to_thread(Project.create, target)
        await self._stop_dataset_workers()
        await asyncio.to_thread(self._judge_trust, project, True)
        self._use(project)
        self.log.add("app", f"created {project.path}")

    async def save_as(self, path: str | os.PathLike[str]) -> None:
        """Continue in a copy of the project at `path`."""
        if self.project is None:
            raise ProjectError("no project is open")
        self._flush()
        target = Path(path).expanduser()
        if target.suffix != ".tsproj":
            target = target.with_name(target.name + ".tsproj")
        copy = await asyncio.to_thread(self.project.save_as, target)
        # A copy of a trusted project is trusted; a copy of an untrusted one is not.
        await asyncio.to_thread(self._judge_trust, copy, self.trusted)
        dataset = self.dataset
        self._use(copy)
        if dataset is not None and self.dataset is not None:
            # The same data stays loaded: carry the live state over to the new file.
            for attribute in ("status", "link", "generation", "browse", "analysis_status"):
                setattr(self.dataset, attribute, getattr(dataset, attribute))
        self.log.add("app", f"saved as {copy.path}")
