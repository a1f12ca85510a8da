"""Why a distributed job ended early: which rank, and what happened to it (pure).

When one rank fails the others soon fail too, with errors that only say a peer went
away. The cause is, in this order: a rank that reported its own error (user code, a NaN
loss), a rank that died without a word (killed, crashed, out of memory), and only then a
rank that lost contact with the others.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass, field


@dataclass
class RankEnd:
    rank: int
    device: str
    host: str
    error: str | None = None  # the text the rank sent before ending
    peer: bool = False  # that text says another rank went away
    returncode: int | None = None  # None while it runs; negative: killed by that signal
    output: list[str] = field(default_factory=list)  # its last lines on stderr

    @property
    def failed(self) -> bool:
        return self.error is not None or (self.returncode is not None and self.returncode != 0)

    @property
    def where(self) -> str:
        return f"rank {self.rank} ({self.device} on {self.host})"


def _exit_text(returncode: int | None) -> str:
    if returncode is None:
        return "stopped answering"
    if returncode < 0:
        try:
            return f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with code {returncode}"


def describe(end: RankEnd) -> str:
    if end.error is not None and not end.peer:
        return f"{end.where} failed: {end.error}"
    if end.error is None:
        last = next((line for line in reversed(end.output) if line.strip()), None)
        tail = f" (its last output: {last.strip()})" if last else ""
        return f"{end.where} died: it {_exit_text(end.returncode)}{tail}"
    return f"{end.where} lost contact with the other ranks: {end.error}"


def root_cause(ends: list[RankEnd]) -> RankEnd | None:
    """The failure that explains the others; `ends` is in the order they were noticed."""
    failed = [e for e in ends if e.failed]
    for wanted in (
        lambda e: e.error is not None and not e.peer,
        lambda e: e.error is None,
        lambda e: True,
    ):
        for end in failed:
            if wanted(end):
                return end
    return None


def failure_text(ends: list[RankEnd]) -> str:
    cause = root_cause(ends)
    if cause is None:
        return "distributed training stopped without an error from any rank"
    return f"distributed training stopped: {describe(cause)}"
