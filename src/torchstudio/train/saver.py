"""Best weights and checkpoints packed and sent on a thread, while the next epoch trains.

At an epoch's end the trainer copies the state (a memory copy: tens of milliseconds for a
resnet18) and hands the copy over; a thread packs it (safetensors: a checkpoint's pieces
point into the copy, so nothing more is copied) and sends it. Messages
go out complete and in order, so the app keeps the last complete checkpoint whatever
moment the trainer is killed at. A save not yet started when a newer one of the same kind
comes is dropped: only the newest best weights and checkpoint matter, and the memory held
stays at two copies at most.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import torch

Send = Callable[[str, Any], None]
Pack = Callable[[], Any]  # makes the message's payload from a copied state


def snapshot(value: Any, reuse: Any = None) -> Any:
    """`value` with every tensor copied to the CPU (the training goes on changing them).

    A tensor of `reuse` (an earlier snapshot of the same state, no longer needed) with the
    same place, shape, dtype and strides is copied into: writing memory already in use costs
    a fraction of a fresh allocation's page faults (a resnet18's weights and Adam state:
    about a tenth).
    """
    if isinstance(value, torch.Tensor):
        if (
            isinstance(reuse, torch.Tensor)
            and reuse.shape == value.shape
            and reuse.dtype == value.dtype
            and reuse.stride() == value.stride()
        ):
            return reuse.copy_(value.detach())
        return value.detach().to("cpu", copy=True)
    if isinstance(value, dict):
        spare = reuse if isinstance(reuse, dict) else {}
        return {k: snapshot(v, spare.get(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        spares = list(reuse) if isinstance(reuse, list | tuple) else []
        spares += [None] * (len(value) - len(spares))
        copied = [snapshot(v, spare) for v, spare in zip(value, spares, strict=False)]
        return copied if isinstance(value, list) else tuple(copied)
    return value


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
