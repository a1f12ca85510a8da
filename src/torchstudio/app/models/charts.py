"""The charts the pages show, drawn once per change and pushed: no page asks for them again.

Each model's loss and metric curves (its Model tab) and the comparison of every model (the
Dashboard's validation curves and parameters plot) are drawn by the plot workers when the
epochs they show change, kept until the next change, and announced as a `charts` change;
every page showing them takes the kept drawing. Only charts a page has asked for are kept
up to date: `torchstudio run`, or an app with no Dashboard open, draws nothing. A Dashboard comparing a selection of its
own asks the views for it directly.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from torchstudio.app.events import Change
from torchstudio.app.models.service import ModelError
from torchstudio.app.models.views import ModelViews
from torchstudio.app.runtime.manager import WorkerError

EVERY = ""  # the key of the comparison of every model (a model's key is its name)


class Charts:
    """The latest drawing of each model's curves and of the comparison of every model."""

    def __init__(self, views: ModelViews) -> None:
        self.views = views
        self.curves: dict[str, dict[str, Any]] = {}  # model -> {"loss": option, "metric": ...}
        self.comparison: dict[str, Any] | None = None  # {"metric": option, "parameters": plot}
        self.drawings = 0  # how many drawings were asked of the plot workers
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._again: set[str] = set()  # changed while being drawn: drawn once more after
        self._wanted: set[str] = set()  # keys a page has shown: drawn again on each change
        project = views.project
        self._unsubscribe = project.changes.subscribe(["epochs", "models"], self._on_change)

    def close(self) -> None:
        self._unsubscribe()
        for task in self._tasks.values():
            task.cancel()

    def _on_change(self, change: Change) -> None:
        if change.topic == "epochs" and change.model in self._wanted:
            self.draw(change.model)
        if EVERY in self._wanted:
            self.draw(EVERY)

    def want(self, key: str) -> None:
        """Draw `key` (a model's name, or EVERY) if it has not been drawn yet, and keep it
        drawn from now on."""
        self._wanted.add(key)
        drawn = self.comparison if key == EVERY else self.curves.get(key)
        if drawn is None and key not in self._tasks:
            self.draw(key)

    def draw(self, key: str) -> None:
        """Draw `key` again: now, or once the drawing under way is done."""
        task = self._tasks.get(key)
        if task is not None and not task.done():
            self._again.add(key)
            return
        with contextlib.suppress(RuntimeError):  # no loop: nothing to draw for
            self._tasks[key] = asyncio.get_running_loop().create_task(self._draw(key))

    async def _draw(self, key: str) -> None:
        try:
            while True:
                self._again.discard(key)
                try:
                    await (self._draw_comparison() if key == EVERY else self._draw_curves(key))
                except (ModelError, WorkerError) as exc:  # kept as drawn: said in the log
                    self.views.models.dataset.log.add("app", f"the charts were not drawn: {exc}")
                if key not in self._again:
                    return
        finally:
            self._tasks.pop(key, None)

    async def _draw_curves(self, name: str) -> None:
        project = self.views.project
        if name not in project.model_names():  # deleted or renamed meanwhile
            self.curves.pop(name, None)
            return
        self.drawings += 1
        self.curves[name] = await self.views.curves([name])
        project.changes.emit("charts", name)

    async def _draw_comparison(self) -> None:
        project = self.views.project
        names = project.model_names()
        for gone in set(self.curves) - set(names):
            del self.curves[gone]
        if not any(project.epochs(name) for name in names):
            self.comparison = None  # nothing trained: no plotting worker to start
        else:
            self.drawings += 1
            series = await self.views.curves(names, which="metric")
            parameters = await self.views.parameters_plot(names)
            self.comparison = {"metric": series.get("metric"), "parameters": parameters}
        project.changes.emit("charts")
