"""The Servers dialog's service: each machine's state, Check, host keys, Install, secrets.

State lives here, not in a page: every change is announced (the "servers" topic), so two
tabs, or the dialog opened again, show the same. A machine is a server entry or this
machine (`HERE`). Check and Install go through `Servers` (one SSH path) for a server and
through the `LocalLauncher` here; Install runs `python -m torchstudio.pythoninstall --json`
and keeps pip's lines (the last few hundred) for the dialog, then checks again.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torchstudio.app.runtime.launchers import LocalLauncher, WorkerProcess
from torchstudio.app.runtime.remote_servers import Servers
from torchstudio.app.runtime.server_status import (
    HERE,
    EntryForm,
    ServerStatus,
    entry_from_form,
    status_of_check,
)
from torchstudio.pythoninstall import (
    PROGRESS_PREFIXES,
    TORCH_PACKAGES,
    InstallError,
    InstallRequest,
)
from torchstudio.remote.entry import ServerEntry
from torchstudio.remote.errors import RemoteError

INSTALL_LINES = 400  # pip's lines kept for the dialog (a torch install prints a few hundred)


def requirement_name(requirement: str) -> str:
    """The distribution a pip requirement names: "torch>=2.9" -> "torch"."""
    return re.split(r"[<>=!~;\[ ]", requirement.strip(), maxsplit=1)[0].lower()


@dataclass
class InstallJob:
    """One Install on one machine: pip's output, its progress line and how it ended."""

    state: str = "running"  # running / done / failed / cancelled
    progress: str = "starting pip"
    lines: deque[str] = field(default_factory=lambda: deque(maxlen=INSTALL_LINES))
    process: WorkerProcess | None = None
    cancelled: bool = False
    received: int = 0  # lines received in all (the kept ones are the last of them)


class ServerDesk:
    """What the Servers dialog shows and does."""

    def __init__(
        self, servers: Servers, emit: Callable[[], None], local: LocalLauncher | None = None
    ) -> None:
        self.servers = servers
        self.local = local or LocalLauncher()
        self._emit = emit
        self.statuses: dict[str, ServerStatus] = {}
        self.jobs: dict[str, InstallJob] = {}
        self.version = 0  # moves at every change: the dialog's signature
        servers.on_lost = self._lost
        servers.on_secret_needed = self._secret_needed

    # ------------------------------------------------------------------ state

    def names(self) -> list[str]:
        return sorted(self.servers.book.entries)

    def entry(self, name: str) -> ServerEntry:
        return self.servers.book.get(name)

    def status(self, name: str) -> ServerStatus:
        """The machine's state; a password login without its password (after a restart) asks."""
        status = self.statuses.get(name)
        if status is not None:
            return status
        if name != HERE and name not in self.servers.book.entries:
            return ServerStatus("not checked", "not one of your servers")
        password_login = name != HERE and self.entry(name).key_file is None
        if password_login and not self.servers.has_credentials(name):
            text = "give the password (kept in memory only, asked again after a restart)"
            return ServerStatus("secret needed", text, secret="password")
        return ServerStatus()

    def _set(self, name: str, status: ServerStatus) -> None:
        self.statuses[name] = status
        self._changed()

    def _changed(self) -> None:
        self.version += 1
        self._emit()

    def _lost(self, name: str) -> None:
        report = self.status(name).report
        text = "the SSH connection dropped: Reconnect (or Check) logs in again"
        self._set(name, ServerStatus("connection lost", text, report=report))

    def _secret_needed(self, name: str, text: str) -> None:
        """A use (Load, Train...) found no secret: the dialog shows where to type it."""
        self._set(name, status_of_check({"status": "error", "text": text}))

    # ------------------------------------------------------------------ entries

    def save(
        self, form: EntryForm, password: str = "", passphrase: str = "", original: str | None = None
    ) -> ServerEntry:
        """Add a server (`original` None) or change one; ValueError says which field is wrong.

        Secrets left empty when editing stay as they were; they are kept in memory only.
        """
        entry = entry_from_form(form)
        if entry.name != original and entry.name in self.servers.book.entries:
            raise ValueError(f"name: a server named {entry.name!r} exists already")
        self.servers.replace(original, entry, password or None, passphrase or None)
        self.statuses.pop(entry.name, None)
        if original is not None and original != entry.name:
            self.statuses.pop(original, None)
            self.jobs.pop(original, None)
        self._changed()
        return entry

    async def remove(self, name: str) -> None:
        await self.servers.remove(name)
        self.statuses.pop(name, None)
        self.jobs.pop(name, None)
        self._changed()

    def give_secret(self, name: str, secret: str) -> None:
        """The password (password login) or the key's passphrase, kept in memory only."""
        if self.entry(name).key_file:
            self.servers.set_credentials(name, passphrase=secret or None)
        else:
            self.servers.set_credentials(name, password=secret or None)
        self.statuses.pop(name, None)
        self._changed()

    # ------------------------------------------------------------------ check and host keys

    async def check(self, name: str) -> ServerStatus:
        """Log in (a server) and check the Python; the state says what came of it."""
        self._set(name, ServerStatus("checking", "connecting and checking the Python"))
        connected = ServerStatus("connected", "logged in: checking its Python")
        result = await (
            self._check_here()
            if name == HERE
            else self.servers.check(name, lambda: self._set(name, connected))
        )
        status = status_of_check(result, result.get("space"))
        self._set(name, status)
        return status

    async def _check_here(self) -> dict[str, Any]:
        """This machine's Python (the one workers run), in a fresh process."""
        process = await asyncio.create_subprocess_exec(
            self.local.python,
            "-m",
            "torchstudio.pythoncheck",
            "--json",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=self.local.module_env(),
        )
        out, err = await process.communicate()
        try:
            report = json.loads(out.decode().strip().splitlines()[-1])
        except (IndexError, ValueError):
            detail = (err.decode(errors="replace").strip().splitlines() or ["no output"])[-1]
            return {
                "status": "error",
                "text": f"{self.local.python} cannot run the check: {detail}",
            }
        return {"status": "ok", "report": report}

    async def reconnect(self, name: str) -> ServerStatus:
        """Log in again after a dropped connection (a check: the state shows the outcome)."""
        await self.servers.disconnect(name)
        return await self.check(name)

    async def accept(self, name: str, fingerprint: str) -> ServerStatus:
        """Record the key the user compared and accepted, then check."""
        try:
            await self.servers.accept_host_key(name, fingerprint)
        except RemoteError as exc:
            self._set(name, ServerStatus("unreachable", str(exc)))
            return self.status(name)
        return await self.check(name)

    def reject(self, name: str) -> None:
        text = "host key rejected: nothing was recorded and TorchStudio does not log in"
        self._set(name, ServerStatus("unreachable", text))

    # ------------------------------------------------------------------ install

    def install_request(
        self,
        packages: list[str],
        find_links: str = "",
        no_index: bool = False,
        torch: str | None = None,
    ) -> dict[str, Any]:
        """The pythoninstall request; ValueError with the reason when it cannot run.

        `torch` ("cpu", "cu128"...) installs that build of torch and torchvision from
        PyTorch's index, in place of any torch requirement among `packages`.
        """
        listed = [p for p in packages if p.strip()]
        if torch:
            listed = [p for p in listed if requirement_name(p) not in TORCH_PACKAGES]
        request: dict[str, Any] = {"packages": listed, "upgrade": True}
        if torch:
            request["torch"] = torch
        if find_links.strip():
            request["find_links"] = [find_links.strip()]
        if no_index:
            request["no_index"] = True
        try:
            InstallRequest.from_json(request)
        except InstallError as exc:
            raise ValueError(str(exc)) from None
        return request

    async def install(self, name: str, request: dict[str, Any]) -> InstallJob:
        """Run pip on the machine, its lines kept as they come; then check again."""
        job = InstallJob()
        self.jobs[name] = job
        previous = self.status(name)
        self._set(name, ServerStatus("installing", job.progress, report=previous.report))
        args = ["--json", json.dumps(request)]
        try:
            if name == HERE:
                job.process = await self.local.start_module("torchstudio.pythoninstall", args)
            else:
                session = await self.servers.connect(name)
                job.process = await session.start_module("torchstudio.pythoninstall", args)
        except RemoteError as exc:
            job.state, job.progress = "failed", str(exc)
            self._set(name, ServerStatus("unreachable", str(exc), report=previous.report))
            return job
        async for line in job.process.stderr_lines():
            job.lines.append(line)
            job.received += 1
            if line.startswith(PROGRESS_PREFIXES):
                job.progress = line
            self._changed()
        code = await job.process.wait()
        if job.cancelled:
            job.state, job.progress = "cancelled", "cancelled: pip was stopped"
        elif code == 0:
            job.state, job.progress = "done", "installed"
        else:
            job.state = "failed"
            job.progress = next(
                (line for line in reversed(job.lines) if line.startswith("error:")),
                f"pip ended with status {code}",
            )
        self._changed()
        await self.check(name)
        return job

    def cancel_install(self, name: str) -> None:
        job = self.jobs.get(name)
        if job is not None and job.state == "running" and job.process is not None:
            job.cancelled = True
            job.process.terminate()
