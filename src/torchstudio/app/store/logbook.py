"""The log the user reads: worker output and app messages, kept in memory and in the project."""

from __future__ import annotations

import re
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


# The app's own lines say what the user did and what came of it; workers' lines are output
# (a library's progress chatter among them), shown when asked for.
LEVELS = ("error", "warning", "action", "output")
_ERROR = re.compile(r"^\s*(error\b|traceback\b)|\bfailed\b|\b\w*Error\b:", re.IGNORECASE)
_WARNING = re.compile(r"warning\b|\bwarn:", re.IGNORECASE)


def level_of(entry: tuple[float, str, str]) -> str:
    """error, warning, action (the app's own lines) or output (a worker's)."""
    _, source, text = entry
    if _ERROR.search(text):
        return "error"
    if _WARNING.search(text):
        return "warning"
    return "action" if source == "app" else "output"


def shown_at(entry: tuple[float, str, str], everything: bool) -> bool:
    """Whether the log shows a line: all with `everything`, else all but workers' output."""
    return everything or level_of(entry) != "output"


def format_line(entry: tuple[float, str, str]) -> str:
    stamp = time.strftime("%H:%M:%S", time.localtime(entry[0]))
    level = level_of(entry)
    tag = f"{level.upper()} " if level in ("error", "warning") else ""
    return f"{stamp} {tag}[{entry[1]}] {entry[2]}"


def last_line(text: str) -> str:
    """An error's last line (its type and message), for a one-line log entry."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else text


def file_size(count: int) -> str:
    """A byte count as people read it: 1.2 MB, 345 kB, 12 bytes."""
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= size:
            return f"{count / size:.3g} {unit}"
    return f"{count} bytes"
