"""Saves that run on one thread, the newest of each kind only: the trainer's best weights
and checkpoints (train/saver.py), and the app's storing of them (app/models/service.py).

Each save is `pack` then `send`, on the thread, oldest first, so saves go out complete and
in order. A save not yet started when a newer one of the same kind comes is dropped: only
the newest best weights and checkpoint matter, which bounds what is held to about two of
each kind. A failure is raised to the caller at its next `put` or `flush`. No torch here:
the app uses it too.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

Send = Callable[[str, Any], None]
Pack = Callable[[], Any]  # makes the message's payload from a copied state


class BackgroundSaver:
    """Runs `pack` then `send` for each save on one thread, oldest first.

    A save's `copied` state, once sent (or dropped for a newer one), is kept as the spare
    of its kind: the next snapshot of that kind copies into it (`snapshot`'s `reuse`).
    """

    def __init__(self, send: Send) -> None:
        self.send = send
        self.pending: list[tuple[str, Pack, Any]] = []
        self.spares: dict[str, Any] = {}
        self.failure: BaseException | None = None
        self.busy = False
        self.condition = threading.Condition()
        self.thread = threading.Thread(target=self._work, name="saver", daemon=True)
        self.closed = False
        self.thread.start()

    def spare(self, kind: str) -> Any:
        """A sent save's copied state, for the next snapshot of `kind` to copy into (the
        caller owns it now); None when there is none."""
        with self.condition:
            return self.spares.pop(kind, None)

    def put(self, kind: str, pack: Pack, copied: Any = None) -> None:
        """Queue a save of `kind` (replacing a queued one of the same kind); `copied` is the
        state `pack` reads, kept as a spare once sent."""
        self._raise_failure()
        with self.condition:
            others = [queued for queued in self.pending if queued[0] != kind]
            for queued in self.pending:
                # A queued save of another kind may read the dropped one's copy (best
                # weights taken from a checkpoint's): it stays nobody's spare then.
                if queued[0] == kind and not others:
                    self.spares[kind] = queued[2]
            self.pending = others
            self.pending.append((kind, pack, copied))
            self.condition.notify_all()

    def flush(self) -> None:
        """Wait until every queued save is sent; raise what a save raised."""
        with self.condition:
            self.condition.wait_for(lambda: not self.pending and not self.busy)
        self._raise_failure()

    def close(self) -> None:
        """Send what is queued, then end the thread."""
        try:
            self.flush()
        finally:
            with self.condition:
                self.closed = True
                self.condition.notify_all()
            self.thread.join()

    def _raise_failure(self) -> None:
        if self.failure is not None:
            failure, self.failure = self.failure, None
            raise failure

    def _work(self) -> None:
        while True:
            with self.condition:
                self.condition.wait_for(lambda: self.pending or self.closed)
                if not self.pending:
                    return
                kind, pack, copied = self.pending.pop(0)
                self.busy = True
            try:
                # Sent, not just packed, before the copy may take the next snapshot: a
                # payload may point into the copy (a checkpoint's pieces) until it is sent.
                self.send(kind, pack())
                with self.condition:
                    self.spares[kind] = copied
            except BaseException as exc:  # handed to the training thread, which raises it
                self.failure = exc
            finally:
                with self.condition:
                    self.busy = False
                    self.condition.notify_all()


class InlineSaver:
    """The same interface, saving at once (a distributed rank: its sends are not threaded)."""

    def __init__(self, send: Send) -> None:
        self.send = send

    def spare(self, kind: str) -> Any:
        return None

    def put(self, kind: str, pack: Pack, copied: Any = None) -> None:
        self.send(kind, pack())

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass
