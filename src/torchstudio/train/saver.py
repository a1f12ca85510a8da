"""Best weights and checkpoints packed and sent on a thread, while the next epoch trains.

At an epoch's end the trainer copies the state (a memory copy: tens of milliseconds for a
resnet18) and hands the copy over; a thread packs it (safetensors) and sends it. Messages
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


def snapshot(value: Any) -> Any:
    """`value` with every tensor copied to the CPU (the training goes on changing them)."""
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", copy=True)
    if isinstance(value, dict):
        return {k: snapshot(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        copied = [snapshot(v) for v in value]
        return copied if isinstance(value, list) else tuple(copied)
    return value


class BackgroundSaver:
    """Runs `pack` then `send` for each save on one thread, oldest first."""

    def __init__(self, send: Send) -> None:
        self.send = send
        self.pending: list[tuple[str, Pack]] = []
        self.failure: BaseException | None = None
        self.busy = False
        self.condition = threading.Condition()
        self.thread = threading.Thread(target=self._work, name="saver", daemon=True)
        self.closed = False
        self.thread.start()

    def put(self, kind: str, pack: Pack) -> None:
        """Queue a save of `kind` (replacing a queued one of the same kind)."""
        self._raise_failure()
        with self.condition:
            self.pending = [(k, p) for k, p in self.pending if k != kind]
            self.pending.append((kind, pack))
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
                kind, pack = self.pending.pop(0)
                self.busy = True
            try:
                self.send(kind, pack())
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

    def put(self, kind: str, pack: Pack) -> None:
        self.send(kind, pack())

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass
