"""Remote servers as the app uses them: add, check, connect, start workers, pass data links.

`ServerBook` keeps the entries (a JSON file, never with secrets). `Servers` is the API the
UI calls: secrets stay in its memory, host keys go through known_hosts (an unknown host
comes back with its fingerprint for the user to accept), one `SSHSession` per server is
kept open, and remote workers join the app's `WorkerManager` through a reverse tunnel to
the manager's port. Data links (`datasetload`'s {"address", "port", "token"}) are
rewritten to cross the same connection in either direction.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Callable, Mapping
from typing import Any

from torchstudio.app.runtime.manager import WorkerHandle, WorkerManager
from torchstudio.app.runtime.server_status import (
    KEEP_PACKAGE_VERSIONS,
    SECRET_HINTS,
    link_route,
)
from torchstudio.remote.entry import Credentials, ServerEntry
from torchstudio.remote.errors import RemoteError
from torchstudio.remote.hostkeys import (
    ChangedHostKey,
    UnknownHostKey,
    fetch_host_key,
    fingerprint,
    known_hosts_line,
    known_hosts_path,
    read_known_hosts,
    record_host_key,
    recorded_keys,
)
from torchstudio.sshtunnel import SSHSession


class ServerBook:
    """The saved server entries; `path=None` keeps them in memory only."""

    def __init__(self, path: str | None = None) -> None:
        self.path = path
        self.entries: dict[str, ServerEntry] = {}
        self.on_change: Callable[[], None] | None = None  # the app's "servers" change
        if path and os.path.exists(path):
            with open(path, encoding="utf-8") as file:
                for data in json.load(file):
                    entry = ServerEntry.from_json(data)
                    self.entries[entry.name] = entry

    def put(self, entry: ServerEntry) -> None:
        entry.validate()
        self.entries[entry.name] = entry
        self.save()
        self._changed()

    def remove(self, name: str) -> None:
        self.entries.pop(name, None)
        self.save()
        self._changed()

    def get(self, name: str) -> ServerEntry:
        try:
            return self.entries[name]
        except KeyError:
            raise RemoteError(f"no server named {name!r}") from None

    def save(self) -> None:
        if not self.path:
            return
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        temporary = f"{self.path}.tmp"
        with open(temporary, "w", encoding="utf-8") as file:
            json.dump([e.to_json() for e in self.entries.values()], file, indent=2)
        os.replace(temporary, self.path)

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()


class Servers:
    """The remote-server API of the app. Close it (`await servers.close()`) when done."""

    def __init__(self, book: ServerBook | None = None, known_hosts: str | None = None) -> None:
        self.book = book or ServerBook()
        self.known_hosts = known_hosts_path(known_hosts)
        self._credentials: dict[str, Credentials] = {}
        self._sessions: dict[str, SSHSession] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._watchers: set[asyncio.Task[None]] = set()
        # Told the server's name when its open connection drops (not when closed here).
        self.on_lost: Callable[[str], None] | None = None
        self.reports: dict[str, dict[str, Any]] = {}  # each server's last pythoncheck report
        # Told the server's name and the reason when a login lacks its password or passphrase.
        self.on_secret_needed: Callable[[str, str], None] | None = None

    def add(
        self, entry: ServerEntry, password: str | None = None, passphrase: str | None = None
    ) -> ServerEntry:
        """Add or replace a server; the password or passphrase is kept in memory only."""
        self.book.put(entry)
        self._credentials[entry.name] = Credentials(password, passphrase)
        return entry

    def replace(
        self,
        old: str | None,
        entry: ServerEntry,
        password: str | None = None,
        passphrase: str | None = None,
    ) -> None:
        """Add `entry`, or put it in the place of server `old`: its connection is closed (the
        next use logs in with the new settings); secrets not given stay as they were."""
        if old is not None:
            session = self._sessions.pop(old, None)
            if session is not None:
                session.abort()  # deliberately closed: its watcher sees another session
        kept = self._credentials.pop(old, Credentials()) if old is not None else Credentials()
        if old is not None and old != entry.name:
            self.reports.pop(old, None)
            self.book.entries.pop(old, None)
        self.add(entry, password or kept.password, passphrase or kept.passphrase)

    def set_credentials(
        self, name: str, password: str | None = None, passphrase: str | None = None
    ) -> None:
        self.book.get(name)
        self._credentials[name] = Credentials(password, passphrase)

    def has_credentials(self, name: str) -> bool:
        credentials = self._credentials.get(name)
        return credentials is not None and (
            credentials.password is not None or credentials.passphrase is not None
        )

    async def remove(self, name: str) -> None:
        """Forget a server: its entry, its secrets, its connection."""
        await self.disconnect(name)
        self._credentials.pop(name, None)
        self.reports.pop(name, None)
        self.book.remove(name)

    def connected(self, name: str) -> bool:
        session = self._sessions.get(name)
        return session is not None and not session.closed

    def recorded_lines(self, name: str) -> list[str]:
        """The known_hosts lines recorded for this server (what to remove if it changed)."""
        entry = self.book.get(name)
        known = read_known_hosts(self.known_hosts)
        keys = recorded_keys(known, entry.host, entry.port)
        return [known_hosts_line(entry.host, entry.port, key).strip() for key in keys]

    async def check(
        self, name: str, on_connected: Callable[[], None] | None = None
    ) -> dict[str, Any]:
        """Connect and check the server's Python. Never raises for a server problem.

        `status` is `ok` (with the pythoncheck `report`), `unknown_host` (with the
        `fingerprint` to show and accept), `changed_host_key` or `error`; `text` says it.
        `on_connected` is called once logged in, before the check.
        """
        try:
            session = await self.connect(name)
            if on_connected is not None:
                on_connected()
            report = await self.python_check(name)
        except UnknownHostKey as exc:
            return {"status": "unknown_host", "fingerprint": exc.fingerprint, "text": str(exc)}
        except ChangedHostKey as exc:
            return {
                "status": "changed_host_key",
                "fingerprint": exc.fingerprint,
                "text": str(exc),
                "remove_lines": self.recorded_lines(name),
            }
        except RemoteError as exc:
            return {"status": "error", "text": str(exc)}
        try:
            space: int | None = await session.housekeeping(KEEP_PACKAGE_VERSIONS)
        except RemoteError:
            space = None  # tidying is a convenience: the server works without it
        upload = session.upload
        return {
            "status": "ok",
            "text": "ready" if report["ok"] else "Python needs: " + ", ".join(report["missing"]),
            "report": report,
            "package": {"version": upload.version, "folder": upload.folder} if upload else None,
            "space": space,
        }

    async def accept_host_key(self, name: str, accepted_fingerprint: str) -> None:
        """Record the server's key in known_hosts, if it is still the one the user saw."""
        entry = self.book.get(name)
        key = await fetch_host_key(entry.host, entry.port)
        if fingerprint(key) != accepted_fingerprint:
            raise RemoteError(
                f"the host key of {entry.host}:{entry.port} is now {fingerprint(key)}, not the "
                f"{accepted_fingerprint} you accepted: nothing was recorded"
            )
        record_host_key(self.known_hosts, entry.host, entry.port, key)

    async def connect(self, name: str) -> SSHSession:
        """The open session to this server, logging in again if it was closed or dropped."""
        lock = self._locks.setdefault(name, asyncio.Lock())
        async with lock:
            session = self._sessions.get(name)
            if session is None or session.closed:
                entry = self.book.get(name)
                credentials = self._credentials.get(name, Credentials())
                try:
                    session = await SSHSession.open(entry, credentials, self.known_hosts)
                except RemoteError as exc:
                    if any(hint in str(exc) for hint, _ in SECRET_HINTS):
                        # After a restart: the app asks for it where servers are managed.
                        if self.on_secret_needed is not None:
                            self.on_secret_needed(name, str(exc))
                        raise RemoteError(
                            f"{exc} (in Servers, from the header: kept in memory only)"
                        ) from None
                    raise
                self._sessions[name] = session
                watcher = asyncio.ensure_future(self._watch(name, session))
                self._watchers.add(watcher)
                watcher.add_done_callback(self._watchers.discard)
            return session

    async def _watch(self, name: str, session: SSHSession) -> None:
        with contextlib.suppress(Exception):
            await session.connection.wait_closed()
        if self._sessions.get(name) is session and self.on_lost is not None:
            self.on_lost(name)  # still the session in use: it dropped, nobody closed it

    async def python_check(self, name: str) -> dict[str, Any]:
        """The server's `pythoncheck` report (runs with the uploaded package)."""
        session = await self.connect(name)
        result = await session.run(["-m", "torchstudio.pythoncheck", "--json"])
        lines = result.stdout.strip().splitlines()
        try:
            report = json.loads(lines[-1])
            self.reports[name] = report
            return report
        except (IndexError, ValueError):
            detail = (result.stderr.strip().splitlines() or ["no output"])[-1]
            raise RemoteError(
                f"{session.entry.python} on {session.entry.label} cannot run the check: {detail}"
            ) from None

    async def start_worker(
        self,
        manager: WorkerManager,
        name: str,
        script: str,
        *,
        worker_name: str | None = None,
        env: Mapping[str, str] | None = None,
        connect_timeout: float = 60.0,
    ) -> WorkerHandle:
        """Start `torchstudio.<script>` on the server as one of the manager's workers."""
        session = await self.connect(name)
        port = await session.reverse_port(manager.host, manager.port)
        return await manager.start_worker(
            script,
            name=worker_name,
            launcher=session,
            env=env,
            address="127.0.0.1",
            port=port,
            connect_timeout=connect_timeout,
        )

    async def link_to_server(self, name: str, link: dict[str, Any]) -> dict[str, Any]:
        """A data link of a worker here, rewritten for a worker on the server."""
        session = await self.connect(name)
        port = await session.reverse_port(link["address"], int(link["port"]))
        return {**link, "address": "127.0.0.1", "port": port}

    async def route_link(
        self, link: dict[str, Any], source: str | None, target: str | None
    ) -> dict[str, Any]:
        """A data link of a worker on `source` for a worker on `target` (None: here)."""
        route = link_route(source, target)
        if route == "same":
            return link
        if route == "to_server":
            assert target is not None
            return await self.link_to_server(target, link)
        assert source is not None
        here = await self.link_from_server(source, link)
        return here if target is None else await self.link_to_server(target, here)

    async def link_from_server(self, name: str, link: dict[str, Any]) -> dict[str, Any]:
        """A data link of a worker on the server, rewritten for a worker here."""
        session = await self.connect(name)
        port = await session.local_port(link["address"], int(link["port"]))
        return {**link, "address": "127.0.0.1", "port": port}

    async def disconnect(self, name: str) -> None:
        session = self._sessions.pop(name, None)
        if session is not None:
            await session.close()

    async def close(self) -> None:
        await asyncio.gather(*(self.disconnect(name) for name in list(self._sessions)))
        for watcher in list(self._watchers):
            watcher.cancel()
