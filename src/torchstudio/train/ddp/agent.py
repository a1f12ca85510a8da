"""A host's agent: starts one rank process per local device, relays rank 0, watches them all.

Like torchrun's agent, it never joins the collectives itself, so it cannot hang with them:
it holds the rendezvous store (on the first host), starts `torchstudio.train.ddp.rank`
processes, gives each its job over a private loopback connection, relays what rank 0 sends
to the app, forwards a cancel, and when a rank fails or dies it ends the others and
raises a `TrainingError` naming the rank that caused it.
"""

from __future__ import annotations

import contextlib
import os
import queue
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import torch.distributed as dist

from torchstudio import tcpcodec
from torchstudio.train.ddp.failure import RankEnd, failure_text
from torchstudio.train.ddp.plan import Plan, Rank
from torchstudio.train.loop import TrainingError
from torchstudio.worker import HELLO, same_secret

FAILURE_GRACE = 1.0  # seconds to hear from the other ranks before ending them
TERMINATE_GRACE = 3.0  # seconds between SIGTERM and SIGKILL
Send = Callable[[str, Any], None]


@dataclass
class RankProcess:
    spec: Rank
    process: subprocess.Popen[bytes]
    end: RankEnd
    conn: tcpcodec.Connection | None = None
    done: dict[str, Any] | None = None
    closed: bool = False  # its connection ended (all it sent has been read)
    output: deque[str] = field(default_factory=lambda: deque(maxlen=20))


def loopback_interface() -> str | None:
    names = [name for _, name in socket.if_nameindex()]
    return next((n for n in names if n.startswith("lo")), None)


def rank_environment(plan: Plan, spec: Rank, store: tuple[str, int]) -> dict[str, str]:
    """What torchrun gives its workers, plus the network interface the host asked for."""
    local = plan.ranks_of(spec.host)
    env = {
        **os.environ,
        "RANK": str(spec.rank),
        "LOCAL_RANK": str(spec.local_rank),
        "WORLD_SIZE": str(plan.world_size),
        "LOCAL_WORLD_SIZE": str(len(local)),
        "GROUP_RANK": str(spec.host),
        "MASTER_ADDR": store[0],
        "MASTER_PORT": str(store[1]),
    }
    interface = plan.hosts[spec.host].interface
    if interface is None and len(plan.hosts) == 1:
        interface = loopback_interface()  # one machine: the ranks talk over loopback only
    if interface is not None:
        env.setdefault("GLOO_SOCKET_IFNAME", interface)
        env.setdefault("NCCL_SOCKET_IFNAME", interface)
    return env


def open_store(plan: Plan) -> tuple[dist.TCPStore, tuple[str, int]]:
    """The rendezvous store every rank joins; on one machine, on a free loopback port."""
    address = "127.0.0.1" if len(plan.hosts) == 1 else str(plan.hosts[0].address)
    port = plan.port if len(plan.hosts) > 1 else 0
    try:
        store = dist.TCPStore(
            address, port, None, True, timedelta(seconds=plan.timeouts), wait_for_workers=False
        )
    except (RuntimeError, dist.DistError) as exc:
        raise TrainingError(
            f"cannot open the rendezvous port {address}:{port} for the other ranks: {exc} "
            "(choose another dist_port, or check the first host's address)"
        ) from exc
    return store, (address, store.port)


EVENTS_KEPT = 64  # rank messages waiting for the agent's loop, at most


class HostAgent:
    """Runs the ranks of one host to the end; `run` returns rank 0's `done` (or None)."""

    def __init__(
        self,
        plan: Plan,
        host: int,
        job: dict[str, Any],
        store: tuple[str, int],
        threads: int,
        send: Send,
        cancelled: Callable[[], bool],
    ) -> None:
        self.plan, self.host, self.job, self.store = plan, host, job, store
        self.threads, self.send, self.cancelled = threads, send, cancelled
        self.secret = secrets.token_hex(32)
        # Bounded: a rank that sends faster than the agent relays waits (its socket fills up)
        # instead of piling its messages (weights, checkpoints) up in memory.
        self.events: queue.Queue[tuple[str, int, Any]] = queue.Queue(maxsize=EVENTS_KEPT)
        self.ranks: dict[int, RankProcess] = {}
        self.order: list[RankEnd] = []  # failures, in the order they were noticed
        self.cancel_sent = False
        self.listener = socket.create_server(("127.0.0.1", 0))

    # --- starting
    def start(self) -> None:
        port = self.listener.getsockname()[1]
        for spec in self.plan.ranks_of(self.host):
            command = [sys.executable, "-P", "-u", "-m", "torchstudio.train.ddp.rank"]
            process = subprocess.Popen(
                [*command, "--address", "127.0.0.1", "--port", str(port)],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                env=rank_environment(self.plan, spec, self.store),
            )
            assert process.stdin is not None and process.stderr is not None
            process.stdin.write(self.secret.encode() + b"\n")
            process.stdin.close()
            label = self.plan.hosts[spec.host].label
            rank = RankProcess(spec, process, RankEnd(spec.rank, spec.device, label))
            self.ranks[spec.rank] = rank
            threading.Thread(target=self._relay_stderr, args=(rank,), daemon=True).start()
        threading.Thread(target=self._accept, daemon=True).start()
        self.send("ranks", [self.describe(r) for r in self.ranks.values()])

    def describe(self, rank: RankProcess) -> dict[str, Any]:
        host = self.plan.hosts[rank.spec.host]
        return {
            "rank": rank.spec.rank,
            "device": rank.spec.device,
            "host": host.label,
            "pid": rank.process.pid,
        }

    def _relay_stderr(self, rank: RankProcess) -> None:
        assert rank.process.stderr is not None
        for raw in rank.process.stderr:
            line = raw.decode("utf-8", "replace").rstrip()
            rank.output.append(line)
            print(f"[rank {rank.spec.rank}] {line}", file=sys.stderr, flush=True)

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError as exc:
                if self.listener.fileno() < 0:
                    return  # closed: the job is over
                # Out of file descriptors (EMFILE)...: the ranks still to come need this loop.
                print(f"ddp agent: accept failed, going on: {exc}", file=sys.stderr, flush=True)
                time.sleep(0.1)
                continue
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock: socket.socket) -> None:
        conn = tcpcodec.Connection(sock, max_payload=64 * 1024)
        try:
            sock.settimeout(30)
            msg_type, hello = conn.recv()
            sock.settimeout(None)
            rank = int(hello.get("rank", -1)) if isinstance(hello, dict) else -1
            secret = hello.get("secret") if isinstance(hello, dict) else None
            if msg_type != HELLO or rank not in self.ranks or not same_secret(secret, self.secret):
                conn.close()
                return
            conn.max_payload = tcpcodec.DEFAULT_MAX_PAYLOAD
        except (tcpcodec.ConnectionClosed, tcpcodec.ProtocolError, OSError, ValueError, TypeError):
            conn.close()  # a rank that is no number is no peer of ours either
            return
        self.events.put(("hello", rank, conn))
        try:
            while True:
                self.events.put(("message", rank, conn.recv()))
        except (tcpcodec.ConnectionClosed, tcpcodec.ProtocolError, OSError):
            self.events.put(("closed", rank, None))

    # --- running
    def settled(self) -> bool:
        """Every rank has exited and everything it sent has been read."""
        return all(
            r.end.returncode is not None and (r.closed or r.conn is None)
            for r in self.ranks.values()
        )

    def run(self) -> dict[str, Any] | None:
        self.start()
        deadline = time.monotonic() + self.plan.timeouts  # every rank connects by then
        failing_since: float | None = None
        try:
            while not self.settled():
                self._handle_events()
                self._poll_exits()
                if self.order and failing_since is None:
                    failing_since = time.monotonic()
                if failing_since is not None and time.monotonic() - failing_since > FAILURE_GRACE:
                    break  # the others only wait for the failed rank now: end them
                if not self.cancel_sent and self.cancelled():
                    self.cancel_sent = True
                    for rank in self.ranks.values():
                        self._send_to(rank, "cancel")
                late = [r for r in self.ranks.values() if r.conn is None]
                if late and time.monotonic() > deadline:
                    raise TrainingError(
                        f"distributed training stopped: {late[0].end.where} did not start "
                        f"within {self.plan.timeouts:.0f} s"
                    )
        finally:
            self.stop()
        unfinished = [r.end for r in self.ranks.values() if r.done is None]
        if self.order or unfinished:
            for end in unfinished:
                if not self.order and end.error is None:
                    end.error = "it ended without finishing its job"
            raise TrainingError(failure_text(self.order or unfinished))
        zero = self.ranks.get(0)
        return zero.done if zero is not None else None

    def _send_to(self, rank: RankProcess, msg_type: str, value: Any = None) -> None:
        if rank.conn is not None:
            with contextlib.suppress(OSError, tcpcodec.ConnectionClosed):
                rank.conn.send(msg_type, value)

    def _handle_events(self) -> None:
        while True:
            try:
                kind, number, value = self.events.get(timeout=0.05)
            except queue.Empty:
                return
            rank = self.ranks[number]
            if kind == "hello":
                rank.conn = value
                self._send_to(rank, "job", {**self.job, "rank": number, "threads": self.threads})
                if self.cancel_sent:
                    self._send_to(rank, "cancel")
                continue
            if kind == "closed":
                rank.closed = True
                continue
            msg_type, payload = value
            if msg_type == "done":
                rank.done = payload
            elif msg_type == "error":
                rank.end.error, rank.end.peer = str(payload["text"]), bool(payload["peer"])
                self._failed(rank)
            elif number == 0:
                self.send(msg_type, payload)  # rank 0's epoch, best, checkpoint, progress

    def _poll_exits(self) -> None:
        for rank in self.ranks.values():
            if rank.end.returncode is None and rank.process.poll() is not None:
                rank.end.returncode = rank.process.returncode
                rank.end.output = list(rank.output)
                if rank.process.returncode != 0:
                    self._failed(rank)

    def _failed(self, rank: RankProcess) -> None:
        if rank.end not in self.order:
            self.order.append(rank.end)

    def stop(self) -> None:
        """End every rank still running (SIGTERM, then SIGKILL), and the listener."""
        self.listener.close()
        running = [r for r in self.ranks.values() if r.process.poll() is None]
        for rank in running:
            with contextlib.suppress(ProcessLookupError):
                rank.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + TERMINATE_GRACE
        for rank in running:
            try:
                rank.process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                rank.process.kill()
                rank.process.wait()
        for rank in self.ranks.values():
            if rank.conn is not None:
                rank.conn.close()
