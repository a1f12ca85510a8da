"""Waiting on a state: for the condition that proves it, never for a fixed time.

Every helper here fails with a message that says what was awaited and what was seen last,
so a timeout on a loaded machine reads as a finding, not as a bare `TimeoutError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

T = TypeVar("T")

# Checks are cheap reads of in-memory state; this bounds how late a passing check is seen.
CHECK_INTERVAL = 0.02


def _describe(what: str | None, check: Callable[..., Any]) -> str:
    return what or getattr(check, "__name__", repr(check))


async def eventually(
    check: Callable[[], T | Awaitable[T]],
    *,
    timeout: float = 30.0,
    what: str | None = None,
    changes: Any = None,
    topics: Iterable[str] = (),
) -> T:
    """Return `check()`'s first truthy value, re-checked until `timeout` seconds have passed.

    With `changes` (the studio's `ChangeBus`) and `topics`, the check runs again on each change
    of those topics, which is when the state it reads can have changed; otherwise it runs
    every few milliseconds. A check may be a coroutine function.
    """
    woken = asyncio.Event()
    unsubscribe = None
    if changes is not None:
        unsubscribe = changes.subscribe(list(topics), lambda _change: woken.set())
    deadline = time.monotonic() + timeout
    last: Any = None
    try:
        while True:
            woken.clear()
            last = check()
            if inspect.isawaitable(last):
                last = await last
            if last:
                return last
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(
                    f"timed out after {timeout:g} s waiting for {_describe(what, check)}; "
                    f"last seen: {last!r}"
                )
            wait = remaining if unsubscribe is not None else min(remaining, CHECK_INTERVAL)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(woken.wait(), wait)
    finally:
        if unsubscribe is not None:
            unsubscribe()


def wait_until(check: Callable[[], T], *, timeout: float = 30.0, what: str | None = None) -> T:
    """`eventually` for synchronous tests (a subprocess, a file, a server)."""
    deadline = time.monotonic() + timeout
    while True:
        last = check()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"timed out after {timeout:g} s waiting for {_describe(what, check)}; "
                f"last seen: {last!r}"
            )
        time.sleep(CHECK_INTERVAL)


async def next_event(
    source: Any,
    worker: str | None,
    kinds: str | Iterable[str],
    *,
    timeout: float = 30.0,
) -> Any:
    """The next worker event of `worker` (any worker if None) whose kind is in `kinds`.

    `source` is a `RecordingManager` (or its `events` queue): events that came before the call
    are in it too, so an event is never missed by asking late. Events of other workers or
    kinds are dropped.
    """
    events: asyncio.Queue[Any] = getattr(source, "events", source)
    wanted = {kinds} if isinstance(kinds, str) else set(kinds)
    seen: list[str] = []

    async def wait() -> Any:
        while True:
            event = await events.get()
            if (worker is None or event.worker == worker) and event.kind in wanted:
                return event
            seen.append(f"{event.worker}:{event.kind}")

    try:
        return await asyncio.wait_for(wait(), timeout)
    except TimeoutError:
        raise AssertionError(
            f"no {'/'.join(sorted(wanted))} event from {worker or 'any worker'} in {timeout:g} s; "
            f"seen meanwhile: {', '.join(seen[-20:]) or 'nothing'}"
        ) from None


async def wait_for_line(lines: list[str], text: str, *, timeout: float = 30.0) -> str:
    """The first line of `lines` (a list another task appends to) that contains `text`."""

    def found() -> str | None:
        return next((line for line in lines if text in line), None)

    return await eventually(found, timeout=timeout, what=f"a line with {text!r}")
