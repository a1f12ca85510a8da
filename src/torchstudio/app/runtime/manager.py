"""The app side of the worker framework: start workers, talk to them, notice when they die.

The manager listens on one loopback port. Each worker it starts gets a one-time secret and
must present it in its `hello` message, so no other process can connect in its place.
Everything that happens to a worker (messages, progress, log lines, its end) becomes a
`WorkerEvent` for the manager's subscribers, which take what they need and let it go (no
queue keeps them: a checkpoint's bytes are freed once handled); the app never blocks on a
worker and keeps running whatever a worker does.

Workers send a heartbeat every second saying what they are busy with and for how long
without progress. A worker busy for longer than `stall_timeout` without progress (user
code in an endless loop), or silent for that long, is reported `unresponsive` (and
`responding` again if it recovers); `WorkerHandle.stop` then ends it for good.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import secrets
import signal
import socket
import sys
import time
import traceback
from collections import defaultdict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from torchstudio import tcpcodec
from torchstudio.app.runtime.launchers import Launcher, LocalLauncher, WorkerProcess
from torchstudio.memory_cap import MEMORY_CAP_EXIT
from torchstudio.worker import (
    ERROR_SUFFIX,
    HEARTBEAT,
    HELLO,
    LOG,
    PROGRESS,
    RESULT_SUFFIX,
    STOP,
    same_secret,
)

LOG_TAIL_LINES = 2000
HANDSHAKE_MAX_PAYLOAD = 64 * 1024
# Bytes from workers of this size and more (weights, checkpoints) stay views of the frame
# they came in: the app writes them to files and copying them first cost a tenth of a second.
LARGE_BYTES = 1 << 20
WATCH_SECONDS = 0.5
ACCEPT_BACKOFF_SECONDS = 0.05  # after a failed accept, doubling up to the maximum
ACCEPT_BACKOFF_MAX_SECONDS = 2.0


def default_stall_timeout() -> float:
    """Seconds without progress before a busy worker is reported (TORCHSTUDIO_STALL_SECONDS)."""
    return float(os.environ.get("TORCHSTUDIO_STALL_SECONDS", "120"))


class WorkerError(Exception):
    """A request failed inside the worker; the message is the text for the user."""


class WorkerDied(WorkerError):
    """The worker ended (or its connection dropped) before answering."""


@dataclass
class WorkerEvent:
    """Something that happened to a worker.

    kinds: `started`, `message` (any other message type; data = (type, value)), `result`,
    `error` (a request failed; data = {"request", "text"}), `progress`, `log` (a line the
    worker sent), `stderr` (a line it printed), `exited` (data = {"code", "signal", "text"}),
    `unresponsive` and `responding` (data = {"text", "busy"}).
    """

    worker: str
    kind: str
    data: Any = None


def describe_exit(returncode: int, stderr_tail: list[str]) -> dict[str, Any]:
    """Turn an exit status into what the user reads: clean exit, exit code, or signal."""
    if returncode < 0:
        number = -returncode
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        return {"code": None, "signal": name, "text": f"killed by {name}"}
    if returncode == 0:
        return {"code": 0, "signal": None, "text": "exited normally"}
    text = f"exited with code {returncode}"
    last = next((line for line in reversed(stderr_tail) if line.strip()), "")
    if returncode == MEMORY_CAP_EXIT and last:
        return {"code": returncode, "signal": None, "text": last.strip()}
    if returncode == 1 and last:
        # Python's own crash exit: its last stderr line names the exception.
        text = f"crashed: {last.strip()}"
    return {"code": returncode, "signal": None, "text": text}


@dataclass
class WorkerHandle:
    """One started worker: send it messages, make requests, stop it."""

    name: str
    module: str
    process: WorkerProcess
    secret: str
    manager: WorkerManager
    conn: tcpcodec.AsyncConnection | None = None
    exit: dict[str, Any] | None = None
    log: deque[str] = field(default_factory=lambda: deque(maxlen=LOG_TAIL_LINES))
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    drained: asyncio.Event = field(default_factory=asyncio.Event)  # its messages all read
    heartbeats: int = 0
    last_heard: float = field(default_factory=time.monotonic)
    busy: list[str] = field(default_factory=list)  # as of the last heartbeat
    idle: float = 0.0  # seconds without progress, as of the last heartbeat
    responding: bool = True
    _pending: dict[str, deque[asyncio.Future[Any]]] = field(
        default_factory=lambda: defaultdict(deque)
    )

    @property
    def alive(self) -> bool:
        return not self.ended.is_set()

    async def send(self, msg_type: str, value: Any = None) -> None:
        if self.conn is None or not self.alive:
            raise WorkerDied(f"worker {self.name} is not running")
        await self.conn.send(msg_type, value)

    async def request(self, msg_type: str, value: Any = None, timeout: float | None = None) -> Any:
        """Send a request and wait for its result; raises WorkerError with the worker's text."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[msg_type].append(future)
        try:
            await self.send(msg_type, value)
            return await asyncio.wait_for(asyncio.shield(future), timeout)
        finally:
            waiting = self._pending[msg_type]
            # Not remove() in a try: its ValueError's message holds the future's repr, which
            # for a training's result formats its best weights (0.1 s for a resnet18's).
            if future in waiting:
                waiting.remove(future)

    def stall(self, timeout: float, now: float) -> str | None:
        """Why this worker counts as not responding after `timeout` s, or None if it responds."""
        if self.heartbeats == 0 or not self.alive:
            return None  # not beating yet (or a worker without heartbeats): nothing to judge
        silent = now - self.last_heard
        if silent > timeout:
            return f"not responding: nothing heard from it for {silent:.0f} s"
        if self.busy and self.idle + silent > timeout:
            return (
                f"not responding: busy in {', '.join(self.busy)} for "
                f"{self.idle + silent:.0f} s without progress"
            )
        return None

    async def stop(self, timeout: float = 5.0) -> dict[str, Any]:
        """Ask the worker to stop; terminate it, then kill it, if it does not.

        A worker that has not connected yet cannot be asked, and has nothing to save: it is
        terminated at once (waiting `timeout` for it would only delay the app's close).
        """
        steps: list[Callable[[], None] | None] = [self.process.terminate, self.process.kill]
        if self.alive and self.conn is not None:
            with contextlib.suppress(Exception):
                await self.conn.send(STOP)
            steps.insert(0, None)
        for escalate in steps:
            if escalate is not None:
                escalate()
            try:
                await asyncio.wait_for(self.ended.wait(), timeout)
                break
            except TimeoutError:
                continue
        assert self.exit is not None or not self.alive
        return self.exit or {}

    def _resolve(self, request: str, error: str | None, value: Any) -> None:
        queue = self._pending.get(request)
        if not queue:
            return
        future = queue.popleft()
        if future.done():
            return
        if error is None:
            future.set_result(value)
        else:
            future.set_exception(WorkerError(error))

    def _fail_pending(self, text: str) -> None:
        for queue in self._pending.values():
            while queue:
                future = queue.popleft()
                if not future.done():
                    future.set_exception(WorkerDied(f"worker {self.name} {text}"))


class WorkerManager:
    """Starts and supervises workers. Use `async with WorkerManager() as manager:`."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        launcher: Launcher | None = None,
        stall_timeout: float | None = None,
    ) -> None:
        self.host = host
        self.port = 0
        self.launcher = launcher or LocalLauncher()
        self.stall_timeout = default_stall_timeout() if stall_timeout is None else stall_timeout
        self.workers: dict[str, WorkerHandle] = {}
        self.rejected_connections = 0
        self.accept_error = ""  # why accepting failed last, while it does
        self._subscribers: list[Callable[[WorkerEvent], None]] = []
        self._listener: socket.socket | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._launches: set[asyncio.Future[WorkerHandle]] = set()  # processes being started
        self._closing = False
        self._names = itertools.count(1)

    async def __aenter__(self) -> WorkerManager:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def start(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, 0))
        listener.listen(64)
        listener.setblocking(False)
        self._listener = listener
        self.port = listener.getsockname()[1]
        self._spawn(self._accept_loop())
        self._spawn(self._watch_responses())
        warm_up = getattr(self.launcher, "warm_up", None)  # the local one's fork server
        if warm_up is not None:
            self._spawn(warm_up())

    async def close(self) -> None:
        # A worker whose process is being started now (a page's plot worker, a trainer warmed
        # up in the background) is stopped with the others, never left running.
        self._closing = True
        await asyncio.gather(*self._launches, return_exceptions=True)
        await asyncio.gather(*(w.stop() for w in self.workers.values() if w.alive))
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    def subscribe(self, callback: Callable[[WorkerEvent], None]) -> Callable[[], None]:
        """Call `callback` for every event; returns a function that unsubscribes."""
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback)

    async def start_worker(
        self,
        script: str,
        *,
        name: str | None = None,
        module: str | None = None,
        launcher: Launcher | None = None,
        env: Mapping[str, str] | None = None,
        address: str | None = None,
        port: int | None = None,
        connect_timeout: float = 60.0,
    ) -> WorkerHandle:
        """Start `torchstudio.<script>` (or `module`) and wait until it has connected back.

        `address`/`port` are what the worker is told to connect to; a remote launcher passes
        the far end of its reverse tunnel here. Raises WorkerDied if it ends before connecting.
        """
        name = name or f"{script}-{next(self._names)}"
        if name in self.workers and self.workers[name].alive:
            raise ValueError(f"a worker named {name!r} is already running")
        if self._closing:
            raise WorkerDied(f"cannot start worker {name}: the app is closing")
        module = module or f"torchstudio.{script}"
        launch = asyncio.ensure_future(
            self._launch(name, module, launcher or self.launcher, address, port, dict(env or {}))
        )
        self._launches.add(launch)
        launch.add_done_callback(self._launches.discard)
        handle = await asyncio.shield(launch)  # cancelled or not, close() will see it
        if self._closing:
            raise WorkerDied(f"worker {name} was started as the app closed")
        connected = asyncio.ensure_future(handle.connected.wait())
        ended = asyncio.ensure_future(handle.ended.wait())
        done, pending = await asyncio.wait(
            {connected, ended}, timeout=connect_timeout, return_when=asyncio.FIRST_COMPLETED
        )
        for task in pending:
            task.cancel()
        if connected not in done:
            # The true cause, when the app could not take the connection (EMFILE...): the
            # worker's own report would only say its connection timed out.
            cause = f" (the app {self.accept_error})" if self.accept_error else ""
            if handle.alive:
                await handle.stop(timeout=2)
                raise WorkerDied(
                    f"worker {name} did not connect within {connect_timeout:g} s{cause}"
                )
            ended = handle.exit["text"] if handle.exit else "ended"
            raise WorkerDied(f"worker {name} {ended}{cause}")
        self._emit(WorkerEvent(name, "started", {"pid": handle.process.pid}))
        return handle

    async def _launch(
        self,
        name: str,
        module: str,
        launcher: Launcher,
        address: str | None,
        port: int | None,
        env: dict[str, str],
    ) -> WorkerHandle:
        """Start the worker's process and register it (its exit and stderr watched)."""
        secret = secrets.token_hex(32)
        try:
            process = await launcher.launch(
                module, address or self.host, port or self.port, secret, env
            )
        except OSError as exc:  # no process started: out of file descriptors, of memory...
            raise WorkerDied(f"cannot start worker {name}: {exc}") from exc
        handle = WorkerHandle(name, module, process, secret, self)
        self.workers[name] = handle
        stderr_task = asyncio.ensure_future(self._watch_stderr(handle))
        self._spawn(self._watch_exit(handle, stderr_task))
        return handle

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _emit(self, event: WorkerEvent) -> None:
        for callback in list(self._subscribers):
            try:
                callback(event)
            except Exception:
                # A subscriber's bug must not end the loop reading a worker's messages.
                print(
                    f"torchstudio: error handling {event.kind} of {event.worker}:", file=sys.stderr
                )
                traceback.print_exc(file=sys.stderr)

    async def _watch_responses(self) -> None:
        """Report workers that stop responding (and those that come back) every half second."""
        while True:
            await asyncio.sleep(WATCH_SECONDS)
            now = time.monotonic()
            for handle in list(self.workers.values()):
                self._judge_responding(handle, handle.stall(self.stall_timeout, now))

    def _judge_responding(self, handle: WorkerHandle, reason: str | None) -> None:
        """Emit `unresponsive` (reason given) or `responding` (None) when that changes."""
        if (reason is None) == handle.responding:
            return
        handle.responding = reason is None
        text = reason or "responding again"
        handle.log.append(f"[torchstudio] {text}")
        kind = "responding" if reason is None else "unresponsive"
        self._emit(WorkerEvent(handle.name, kind, {"text": text, "busy": handle.busy}))

    async def _accept_loop(self) -> None:
        """Accept workers' connections for as long as the manager runs, whatever fails.

        Out of file descriptors (EMFILE), or a connection reset before it is accepted: the
        error is logged and kept for the message of a worker that cannot connect, and the
        loop waits a little (the cause takes a while to go) and goes on.
        """
        loop = asyncio.get_running_loop()
        assert self._listener is not None
        backoff = ACCEPT_BACKOFF_SECONDS
        while True:
            try:
                sock, _ = await loop.sock_accept(self._listener)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                text = f"cannot accept connections from workers: {exc}"
                if text != self.accept_error:
                    print(f"torchstudio: {text}; trying again", file=sys.stderr)
                self.accept_error = text
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, ACCEPT_BACKOFF_MAX_SECONDS)
                continue
            backoff = ACCEPT_BACKOFF_SECONDS
            self.accept_error = ""
            self._spawn(self._handshake(sock))

    async def _handshake(self, sock: socket.socket) -> None:
        # Until the peer has shown the secret, it may not make us allocate much.
        conn = tcpcodec.AsyncConnection(sock, max_payload=HANDSHAKE_MAX_PAYLOAD)
        try:
            msg_type, hello = await asyncio.wait_for(conn.recv(), timeout=10)
            if msg_type != HELLO or not isinstance(hello, dict):
                raise tcpcodec.ProtocolError(f"expected a hello message, got {msg_type!r}")
            handle = self._handle_for_secret(hello.get("secret"))
        except (TimeoutError, tcpcodec.ProtocolError, tcpcodec.ConnectionClosed, OSError):
            handle = None
        if handle is None:
            self.rejected_connections += 1
            conn.close()
            return
        conn.max_payload = tcpcodec.DEFAULT_MAX_PAYLOAD
        handle.conn = conn
        handle.connected.set()
        await self._read_loop(handle)

    def _handle_for_secret(self, secret: object) -> WorkerHandle | None:
        for handle in self.workers.values():
            if handle.conn is None and same_secret(secret, handle.secret):
                return handle
        return None

    async def _read_loop(self, handle: WorkerHandle) -> None:
        assert handle.conn is not None
        while True:
            try:
                msg_type, value = await handle.conn.recv(bytes_views_from=LARGE_BYTES)
            except (tcpcodec.ConnectionClosed, OSError):
                break
            except tcpcodec.ProtocolError as exc:
                handle.log.append(f"[torchstudio] invalid message from worker: {exc}")
                self._emit(WorkerEvent(handle.name, "stderr", f"invalid message: {exc}"))
                # The stream cannot be resynchronised: say why before the worker goes.
                handle._fail_pending(f"sent an invalid message ({exc}) and was stopped")
                handle.process.terminate()
                break
            self._route(handle, msg_type, value)
        handle.conn.close()
        handle.drained.set()

    def _route(self, handle: WorkerHandle, msg_type: str, value: Any) -> None:
        handle.last_heard = time.monotonic()
        if msg_type == HEARTBEAT:
            beat = value if isinstance(value, dict) else {}
            handle.heartbeats += 1
            handle.busy = [str(b) for b in beat.get("busy") or []]
            handle.idle = float(beat.get("idle") or 0.0)
        elif msg_type == PROGRESS:
            # Progress is a sign of life: a worker judged stuck responds again at once, not
            # at the next heartbeat or watch tick.
            handle.idle = 0.0
            self._judge_responding(handle, None)
            self._emit(WorkerEvent(handle.name, "progress", value))
        elif msg_type == LOG:
            handle.log.append(str(value))
            self._emit(WorkerEvent(handle.name, "log", value))
        elif msg_type.endswith(RESULT_SUFFIX):
            request = msg_type.removesuffix(RESULT_SUFFIX)
            handle._resolve(request, None, value)
            self._emit(WorkerEvent(handle.name, "result", {"request": request, "value": value}))
        elif msg_type.endswith(ERROR_SUFFIX):
            request = msg_type.removesuffix(ERROR_SUFFIX)
            handle._resolve(request, str(value), None)
            self._emit(WorkerEvent(handle.name, "error", {"request": request, "text": value}))
        else:
            self._emit(WorkerEvent(handle.name, "message", (msg_type, value)))

    async def _watch_stderr(self, handle: WorkerHandle) -> None:
        async for line in handle.process.stderr_lines():
            handle.log.append(line)
            self._emit(WorkerEvent(handle.name, "stderr", line))

    async def _watch_exit(self, handle: WorkerHandle, stderr_task: asyncio.Future[None]) -> None:
        returncode = await handle.process.wait()
        # The last stderr lines (a crash's traceback) are needed to describe the exit; a
        # grandchild holding stderr open must not delay the report for long.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(stderr_task), timeout=2)
        if handle.conn is not None:
            # What it sent before dying (its last epoch...) is handled before its end is.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(handle.drained.wait(), timeout=2)
        handle.exit = describe_exit(returncode, list(handle.log)[-5:])
        handle._fail_pending(handle.exit["text"])
        if handle.conn is not None:
            handle.conn.close()
        handle.ended.set()
        self._emit(WorkerEvent(handle.name, "exited", handle.exit))
