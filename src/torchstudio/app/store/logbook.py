"""The log the user reads: worker output and app messages, kept in memory and in the project."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from torchstudio.app.runtime.manager import WorkerEvent

MAX_LINES = 2000
UNSAVED_LIMIT = 20_000  # lines kept while the project cannot be written (disk full)
Sink = Callable[[list[tuple[float, str, str]]], None]


class LogBook:
    """Lines with their source; `version` grows with every line, `on_change` hears of each."""

    def __init__(
        self,
        history: list[tuple[float, str, str]] | None = None,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.lines: deque[tuple[float, str, str]] = deque(history or [], maxlen=MAX_LINES)
        self.version = 0  # the number of lines ever added
        self._pending: list[tuple[float, str, str]] = []
        self.on_change = on_change

    def add(self, source: str, text: str) -> None:
        for line in str(text).splitlines() or [""]:
            entry = (time.time(), source, line)
            self.lines.append(entry)
            self._pending.append(entry)
            self.version += 1
        if self.on_change is not None:
            self.on_change()

    def since(self, version: int) -> list[tuple[float, str, str]]:
        """The lines added after `version` (all the kept ones if too many were added since)."""
        count = min(self.version - version, len(self.lines))
        return list(self.lines)[len(self.lines) - count :] if count > 0 else []

    def flush(self, sink: Sink) -> None:
        """Hand the lines not yet saved to `sink` (the project), in one write."""
        pending, self._pending = self._pending, []
        if not pending:
            return
        try:
            sink(pending)
        except Exception:
            # Kept for the next try (a full disk may get space back), newest lines last.
            self._pending = (pending + self._pending)[-UNSAVED_LIMIT:]
            raise

    def on_worker_event(self, event: WorkerEvent) -> None:
        """Subscribe this to the worker manager: output and ends of workers join the log."""
        if event.kind in ("log", "stderr"):
            self.add(event.worker, str(event.data))
        elif event.kind == "exited":
            self.add(event.worker, f"worker {event.data.get('text', 'ended')}")
        elif event.kind == "error":
            self.add(event.worker, f"{event.data['request']} failed:\n{event.data['text']}")
        elif event.kind in ("unresponsive", "responding"):
            self.add(event.worker, f"worker {event.data['text']}")


def format_line(entry: tuple[float, str, str]) -> str:
    stamp = time.strftime("%H:%M:%S", time.localtime(entry[0]))
    return f"{stamp} [{entry[1]}] {entry[2]}"
