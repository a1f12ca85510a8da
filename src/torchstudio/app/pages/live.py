"""Keeping a page in step with the app: sections redraw when a change they show is pushed.

State lives in the services and the project; they emit typed `Change`s (app/events.py). A
page section says which topics it shows and how to draw; `Live` subscribes to those topics
for this browser client and, when one arrives, redraws the sections concerned once, at the
next frame (several changes within a frame make one redraw). Nothing runs while nothing
changes: no timer, no polling. A section may give a cheap `signature` so that a change of
its topic that leaves what it shows alone draws nothing.

Sections drawn inside something that is redrawn (a model's panel, a refreshable form) use
a `scope`: opening a scope of the same key closes the previous one, with its subscriptions.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from nicegui import Client, ui

from torchstudio.app.events import Change, ChangeBus, Topic

FRAME_SECONDS = 1 / 60  # at most one redraw per frame, however many changes arrive
_UNSET = object()


@dataclass(eq=False)
class Section:
    """One part of a page: what it shows (topics, one model or all) and how it draws."""

    topics: tuple[Topic, ...]
    draw: Callable[[Any], None]
    signature: Callable[[], Any] | None
    model: Callable[[], str | None] | None = None  # only that model's changes (None: all)
    last: Any = _UNSET

    def concerns(self, change: Change) -> bool:
        if change.topic not in self.topics:
            return False
        if self.model is None or change.model is None:
            return True
        return change.model == self.model()

    def run(self) -> None:
        value = self.signature() if self.signature is not None else None
        if self.signature is not None and value == self.last:
            return
        self.last = value
        self.draw(value)


@dataclass(eq=False)
class Live:
    """A page's (or a redrawn part's) subscriptions to the app's changes."""

    changes: ChangeBus
    # The browser client drawn for: sections draw in its context (ui.navigate, ui.notify).
    client: Client | None = None
    _sections: list[Section] = field(default_factory=list)
    _dirty: dict[Section, None] = field(default_factory=dict)
    _unsubscribe: dict[Topic, Callable[[], None]] = field(default_factory=dict)
    _scopes: dict[str, Live] = field(default_factory=dict)
    _handle: asyncio.TimerHandle | None = None
    closed: bool = False

    @classmethod
    def for_page(cls, changes: ChangeBus) -> Live:
        """The page's root: closed (every subscription dropped) when its client goes."""
        client = ui.context.client
        live = cls(changes, client)
        client.on_delete(live.close)
        return live

    def watch(
        self,
        topics: Iterable[Topic],
        draw: Callable[[Any], None],
        signature: Callable[[], Any] | None = None,
        *,
        model: Callable[[], str | None] | str | None = None,
        now: bool = True,
    ) -> None:
        """Call `draw(signature())` when a change of `topics` arrives (and its signature moved).

        `model` limits model topics to that model's changes. With `now`, draws at once;
        without, the current signature counts as drawn.
        """
        if isinstance(model, str):
            name = model
            model = lambda: name  # noqa: E731
        section = Section(tuple(topics), draw, signature, model)
        self._sections.append(section)
        for topic in section.topics:
            if topic not in self._unsubscribe:
                self._unsubscribe[topic] = self.changes.subscribe([topic], self._on_change)
        if now:
            section.run()
        elif signature is not None:
            section.last = signature()

    def scope(self, key: str) -> Live:
        """A fresh child for a part that is drawn again: the previous one of `key` is closed."""
        previous = self._scopes.pop(key, None)
        if previous is not None:
            previous.close()
        child = Live(self.changes, self.client)
        self._scopes[key] = child
        return child

    def close(self) -> None:
        self.closed = True
        for unsubscribe in self._unsubscribe.values():
            unsubscribe()
        self._unsubscribe.clear()
        for child in self._scopes.values():
            child.close()
        self._scopes.clear()
        self._sections.clear()
        self._dirty.clear()
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _on_change(self, change: Change) -> None:
        for section in self._sections:
            if section.concerns(change):
                self._dirty[section] = None
        if self._dirty and self._handle is None:
            loop = asyncio.get_running_loop()
            self._handle = loop.call_later(FRAME_SECONDS, self.flush)

    def flush(self) -> None:
        """Draw the sections whose changes arrived (at once, not at the next frame)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        dirty, self._dirty = list(self._dirty), {}
        with self.client if self.client is not None else contextlib.nullcontext():
            for section in dirty:
                if self.closed:
                    return
                section.run()
