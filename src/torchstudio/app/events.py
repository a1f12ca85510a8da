"""Typed change events: what changed in the app's state, pushed to whoever shows it.

Services (and the project store, after each committed write) emit a `Change`; page sections
subscribe to the topics they show. Nothing polls: a section redraws because a change it
shows happened. Subscribers are called synchronously, in order, on the app's event loop (a change
emitted from another thread, such as a project write in `asyncio.to_thread`, is handed to
the loop); a subscriber keeps nothing of the event once it returns, so no queue grows.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

Topic = Literal[
    "project",  # another project was opened, or the open one was trusted
    "dataset",  # the dataset definition (code, settings, roles, renderers, report, analysis)
    "dataset.state",  # load/analysis status, progress, messages (not stored)
    "dataset.browse",  # the sample shown in the browser
    "models",  # the list of models: added, renamed, deleted, closed, reordered
    "model",  # one model's document (code, settings, parts, build summary, status)
    "epochs",  # one model's epochs or runs
    "weights",  # one model's best weights or checkpoint (no page shows them: not redrawn)
    "training",  # one model's live training state (progress, speed, status)
    "actions",  # one model's build/prediction/export state kept in memory
    "charts",  # a model's curves drawn again (model None: the comparison of every model)
    "devices",  # devices found on this machine or a server
    "servers",  # the remote servers' entries
    "log",  # new log lines
]
TOPICS: tuple[str, ...] = Topic.__args__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Change:
    """`topic` changed (for `model`, when the topic is about one model)."""

    topic: Topic
    model: str | None = None


Callback = Callable[[Change], None]


class ChangeBus:
    """Delivers each change to the subscribers of its topic, at once."""

    def __init__(self) -> None:
        self._subscribers: dict[str, list[Callback]] = {topic: [] for topic in TOPICS}
        self.emitted = 0  # for tests and benchmarks: how many changes went out
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Deliver on `loop`: changes emitted from other threads are handed to it."""
        self._loop, self._loop_thread = loop, threading.get_ident()

    def subscribe(self, topics: Iterable[Topic], callback: Callback) -> Callable[[], None]:
        """Call `callback` for every change of `topics`; returns the function that unsubscribes."""
        chosen = list(dict.fromkeys(topics))
        for topic in chosen:
            if topic not in self._subscribers:
                raise ValueError(f"unknown change topic {topic!r} (known: {', '.join(TOPICS)})")
            self._subscribers[topic].append(callback)

        def unsubscribe() -> None:
            for topic in chosen:
                if callback in self._subscribers[topic]:
                    self._subscribers[topic].remove(callback)

        return unsubscribe

    def subscribers(self, topic: Topic) -> int:
        return len(self._subscribers[topic])

    def emit(self, topic: Topic, model: str | None = None) -> None:
        change = Change(topic, model)
        loop = self._loop
        if loop is not None and threading.get_ident() != self._loop_thread:
            if not loop.is_closed():
                loop.call_soon_threadsafe(self._deliver, change)
            return
        self._deliver(change)

    def _deliver(self, change: Change) -> None:
        self.emitted += 1
        for callback in list(self._subscribers[change.topic]):
            try:
                callback(change)
            except Exception:
                # One page's drawing bug must not keep the change from the others.
                print(f"torchstudio: error handling the change {change}:", file=sys.stderr)
                traceback.print_exc(file=sys.stderr)
