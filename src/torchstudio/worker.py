"""The worker side of the worker framework: one dispatch mechanism shared by every root script.

A root script declares its handlers in a `Handlers` registry and calls `run_worker` from its
`main()`. The app starts it as `python -m torchstudio.<script> --address A --port P` and
writes a per-worker secret on its standard input; the worker connects back, says `hello`
with the secret, then answers messages until it receives `stop` or the app goes away.

Conventions (the app's worker manager relies on them):
- a request of type `T` is answered by `T:result` (the handler's return value) or by
  `T:error` (a text for the user), so that handler failures never end the worker;
- `progress` carries `{"fraction": f, "text": t}` and `log` carries one line of text;
- handlers may send any other message type with `ctx.send` (for example one per epoch);
- a handler registered with `background=True` (a long job: analysis, training) runs in a
  thread, so the worker keeps answering other messages meanwhile; `cancel` sets
  `ctx.cancelled`, which the job polls to stop early. One background job at a time;
- a thread sends `heartbeat` {"busy": [requests being handled], "idle": seconds since the
  busy request last showed progress} every `TORCHSTUDIO_HEARTBEAT_SECONDS` (1 s). Progress
  is any message the handler sends and every poll of `ctx.cancelled` (or `ctx.beat()`), so
  user code stuck in a loop shows as a growing `idle` while the thread goes on beating;
  the app judges from it whether the worker still responds. When a heartbeat cannot be
  sent, the app is gone and the worker ends at once: killing the app leaves no orphans.

Handlers are plain functions `handler(value, ctx) -> reply`, testable with a
`RecordingContext` and no socket at all.
"""

from __future__ import annotations

import argparse
import hmac
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from torchstudio import tcpcodec
from torchstudio.memory_cap import start_memory_cap
from torchstudio.modules import format_user_error

Handler = Callable[[Any, "WorkerContext"], Any]

HELLO = "hello"
STOP = "stop"
CANCEL = "cancel"
PROGRESS = "progress"
LOG = "log"
HEARTBEAT = "heartbeat"
HEARTBEAT_SECONDS = float(os.environ.get("TORCHSTUDIO_HEARTBEAT_SECONDS", "1.0"))
RESULT_SUFFIX = ":result"
ERROR_SUFFIX = ":error"


def same_secret(given: object, expected: str) -> bool:
    """Whether a peer's hello shows `expected`, in constant time.

    Compared as bytes: `hmac.compare_digest` raises TypeError on text holding anything
    but ASCII, which a peer chooses.
    """
    if not isinstance(given, str):
        return False
    encode = lambda text: text.encode("utf-8", "surrogateescape")  # noqa: E731
    return hmac.compare_digest(encode(given), encode(expected))


class UserError(Exception):
    """A failure whose message is already the text for the user (sent as it is)."""


class WorkerContext:
    """What a handler may do besides returning a value: report progress, log, send messages."""

    def __init__(self, send: Callable[[str, Any], None], script: str = "worker") -> None:
        self._send = send
        self.script = script
        self.state: dict[str, Any] = {}  # survives between messages, for stateful workers
        self.cancel_event = threading.Event()
        self.busy: list[str] = []  # requests being handled now, for the heartbeat
        self.last_activity = time.monotonic()

    @property
    def cancelled(self) -> bool:
        """True once the app asked to cancel the running background job (long loops poll it).

        Polling it counts as progress: a job that polls can be stopped, so it is responding.
        """
        self.beat()
        return self.cancel_event.is_set()

    def beat(self) -> None:
        """Show progress without sending anything (for long steps that do not poll `cancelled`)."""
        self.last_activity = time.monotonic()

    def heartbeat(self) -> dict[str, Any]:
        """What the heartbeat says: the requests being handled and how long since progress."""
        busy = list(self.busy)
        return {"busy": busy, "idle": time.monotonic() - self.last_activity if busy else 0.0}

    def _enter(self, msg_type: str) -> None:
        self.beat()
        self.busy.append(msg_type)

    def _leave(self, msg_type: str) -> None:
        if msg_type in self.busy:
            self.busy.remove(msg_type)

    def send(self, msg_type: str, value: Any = None) -> None:
        self.beat()
        self._send(msg_type, value)

    def progress(self, fraction: float, text: str = "") -> None:
        self._send(PROGRESS, {"fraction": float(fraction), "text": text})

    def log(self, text: str) -> None:
        self._send(LOG, text)


class RecordingContext(WorkerContext):
    """A context that records what a handler sends, for unit tests without a socket."""

    def __init__(self, script: str = "test") -> None:
        self.sent: list[tuple[str, Any]] = []
        super().__init__(lambda msg_type, value: self.sent.append((msg_type, value)), script)


class Handlers:
    """The registry mapping message types to handler functions."""

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}
        self._background: set[str] = set()

    def on(self, msg_type: str, background: bool = False) -> Callable[[Handler], Handler]:
        """Decorator: `@handlers.on("load")` registers the function for `load` messages."""

        def register(handler: Handler) -> Handler:
            self.add(msg_type, handler, background)
            return handler

        return register

    def add(self, msg_type: str, handler: Handler, background: bool = False) -> None:
        if msg_type in (HELLO, STOP, CANCEL, PROGRESS, LOG, HEARTBEAT) or ":" in msg_type:
            raise ValueError(f"message type {msg_type!r} is reserved by the worker framework")
        if msg_type in self._handlers:
            raise ValueError(f"a handler for {msg_type!r} is already registered")
        self._handlers[msg_type] = handler
        if background:
            self._background.add(msg_type)

    def is_background(self, msg_type: str) -> bool:
        return msg_type in self._background

    def get(self, msg_type: str) -> Handler | None:
        return self._handlers.get(msg_type)

    @property
    def types(self) -> list[str]:
        return sorted(self._handlers)


def dispatch(
    handlers: Handlers,
    msg_type: str,
    value: Any,
    ctx: WorkerContext,
    finished: Callable[[], None] = lambda: None,
) -> bool:
    """Run the handler for one message and send its result or error. Returns success.

    `finished` runs just before the answer goes out, so that a background job is marked
    done before the app can send its next request.
    """
    handler = handlers.get(msg_type)
    if handler is None:
        known = ", ".join(handlers.types) or "none"
        finished()
        ctx.send(
            msg_type + ERROR_SUFFIX,
            f"unknown message type {msg_type!r}; {ctx.script} handles: {known}",
        )
        return False
    try:
        reply = handler(value, ctx)
    except UserError as exc:
        finished()
        ctx.send(msg_type + ERROR_SUFFIX, str(exc))
        return False
    except Exception as exc:
        # The full traceback goes to stderr (the app's log); the user gets the short text.
        traceback.print_exc(file=sys.stderr)
        finished()
        ctx.send(msg_type + ERROR_SUFFIX, format_user_error(exc, f"{ctx.script} ({msg_type})"))
        return False
    finished()
    ctx.send(msg_type + RESULT_SUFFIX, reply)
    return True


def serve(
    handlers: Handlers, conn: tcpcodec.Connection, script: str, heartbeat: bool = False
) -> int:
    """Answer messages until `stop` or until the app closes the connection. Returns an exit code.

    With `heartbeat` (the connection to the app), a thread beats and ends the process when
    the app is gone; other peers (a trainer reading the data server) get no heartbeats.
    """
    ctx = WorkerContext(conn.send, script)
    if not heartbeat:
        return _serve(handlers, conn, script, ctx)
    ended = threading.Event()
    beating = threading.Thread(
        target=send_heartbeats, args=(conn, ctx, ended), name="heartbeat", daemon=True
    )
    beating.start()
    try:
        return _serve(handlers, conn, script, ctx)
    finally:
        ended.set()


def send_heartbeats(
    conn: tcpcodec.Connection,
    ctx: WorkerContext,
    ended: threading.Event,
    interval: float = HEARTBEAT_SECONDS,
) -> None:
    """Beat until `ended`; when a beat cannot be sent the app is gone, so end the process.

    The main thread notices a closed connection too, but only while it waits for messages:
    a worker busy in user code would otherwise outlive the app that started it.
    """
    while not ended.wait(interval):
        try:
            conn.send(HEARTBEAT, ctx.heartbeat())
        except Exception:
            if ended.is_set():
                return
            print(f"{ctx.script}: the app went away; ending", file=sys.stderr, flush=True)
            os._exit(3)


def _serve(handlers: Handlers, conn: tcpcodec.Connection, script: str, ctx: WorkerContext) -> int:
    job: threading.Thread | None = None
    busy = threading.Event()  # a background job runs and has not answered yet
    while True:
        try:
            msg_type, value = conn.recv()
        except tcpcodec.ConnectionClosed:
            ctx.cancel_event.set()  # the app went away: nothing left to do
            return 0
        except tcpcodec.ProtocolError as exc:
            print(f"{script}: invalid message from the app: {exc}", file=sys.stderr)
            ctx.cancel_event.set()
            return 2
        if msg_type == STOP:
            ctx.cancel_event.set()
            if job is not None:
                job.join(timeout=10)
            conn.send(STOP + RESULT_SUFFIX)
            return 0
        if msg_type == CANCEL:
            ctx.cancel_event.set()
            conn.send(CANCEL + RESULT_SUFFIX, busy.is_set())
        elif handlers.is_background(msg_type):
            if busy.is_set():
                conn.send(msg_type + ERROR_SUFFIX, f"{script} is busy with another job")
                continue
            if job is not None:
                job.join()  # it has answered: only its last instructions remain
            ctx.cancel_event.clear()
            busy.set()
            ctx._enter(msg_type)

            def finished(msg_type: str = msg_type) -> None:
                ctx._leave(msg_type)
                busy.clear()

            job = threading.Thread(
                target=dispatch,
                args=(handlers, msg_type, value, ctx, finished),
                name=msg_type,
                daemon=True,
            )
            job.start()
        else:
            ctx._enter(msg_type)
            dispatch(handlers, msg_type, value, ctx, lambda msg_type=msg_type: ctx._leave(msg_type))


class RemoteError(Exception):
    """Another worker answered a request with an error; the message is its text."""


def call(
    conn: tcpcodec.Connection,
    msg_type: str,
    value: Any = None,
    on_message: Callable[[str, Any], None] | None = None,
) -> Any:
    """Make a blocking request to another worker: the one way workers talk to each other.

    Messages that arrive before the answer (progress, logs) go to `on_message`.
    """
    conn.send(msg_type, value)
    while True:
        reply_type, reply = conn.recv()
        if reply_type == msg_type + RESULT_SUFFIX:
            return reply
        if reply_type == msg_type + ERROR_SUFFIX:
            raise RemoteError(str(reply))
        if on_message is not None:
            on_message(reply_type, reply)


def parse_args(script: str, argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=f"python -m torchstudio.{script}",
        description=f"TorchStudio {script} worker. Connects back to the app that started it; "
        "reads its one-time secret from the first line of standard input.",
    )
    parser.add_argument("--address", default="127.0.0.1", help="address of the app to connect to")
    parser.add_argument("--port", type=int, required=True, help="port the app listens on")
    return parser.parse_args(argv)


def run_worker(handlers: Handlers, script: str, argv: Sequence[str] | None = None) -> int:
    """The whole `main()` of a worker script: connect, say hello, serve."""
    args = parse_args(script, argv)
    # Ctrl-C in a terminal reaches the whole process group: the app (or `torchstudio run`)
    # takes it and stops its workers in order; a worker must not die in the middle.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # User code that prints must not write into a pipe nobody reads: its output joins the log.
    sys.stdout = sys.stderr
    # The secret comes on stdin, not on the command line, where other local users could read it.
    secret = sys.stdin.readline().strip()
    start_memory_cap()  # TORCHSTUDIO_WORKER_MEMORY_MB, when the app set it
    conn = tcpcodec.Connection.connect(args.address, args.port, timeout=30)
    conn.send(HELLO, {"secret": secret, "script": script, "pid": os.getpid()})
    try:
        return serve(handlers, conn, script, heartbeat=True)
    finally:
        conn.close()
