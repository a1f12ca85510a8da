"""The Servers dialog's service against the real sshd: host keys, check, housekeeping,
Install from a local wheel (there and here), a secret asked for, a dropped connection."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import time
from pathlib import Path

import asyncssh
import pytest
from tests.helpers.waiting import eventually
from tests.remote.test_pythoninstall import fresh_venv, imported_version

from torchstudio.app.runtime.launchers import LocalLauncher
from torchstudio.app.runtime.remote_servers import Servers
from torchstudio.app.runtime.server_desk import ServerDesk
from torchstudio.app.runtime.server_status import HERE, EntryForm
from torchstudio.remote.hostkeys import record_host_key

pytestmark = [pytest.mark.sshd, pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> dict[str, str]:
    """A fresh virtual environment to install into, and a folder with a wheel."""
    return fresh_venv(tmp_path_factory.mktemp("desk"), "1.0")


def form_of(sshd, **changes: str) -> EntryForm:
    values = {
        "name": "lab",
        "host": sshd.host,
        "port": str(sshd.port),
        "user": sshd.user,
        "login": "key",
        "key_file": sshd.encrypted_key_file,
        "python": sys.executable,
        "remote_dir": str(sshd.folder / "desk-home"),
    }
    return EntryForm(**{**values, **changes})


async def test_accept_check_tidy_install_and_a_dropped_connection(sshd, tmp_path, venv):
    seen: list[str] = []  # the server's state at each change announced

    def announced() -> None:
        seen.append(desk.statuses["lab"].kind if "lab" in desk.statuses else "")

    servers = Servers(known_hosts=str(tmp_path / "known_hosts"))
    desk = ServerDesk(servers, announced, LocalLauncher(venv["python"]))
    try:
        # An encrypted key without its passphrase: the check asks for it.
        desk.save(form_of(sshd))
        assert desk.status("lab").kind == "not checked"
        record_host_key(servers.known_hosts, sshd.host, sshd.port, sshd.host_key)
        asked = await desk.check("lab")
        assert (asked.kind, asked.secret) == ("secret needed", "passphrase"), asked
        os.remove(servers.known_hosts)
        desk.give_secret("lab", sshd.passphrase)

        unknown = await desk.check("lab")
        assert unknown.kind == "host key unknown"
        assert unknown.fingerprint == sshd.host_key.get_fingerprint("sha256")
        # Old uploaded versions: all but the newest go (3 kept, counting the one in use).
        packages = sshd.folder / "desk-home" / "packages"
        for age, name in enumerate(["v-newest", "v-newer", "v-old", "v-oldest"]):
            (packages / name / "torchstudio").mkdir(parents=True)
            (packages / name / "torchstudio" / "__init__.py").write_text("x" * 1000)
            stamp = time.time() - 3600 * (age + 1)
            os.utime(packages / name, (stamp, stamp))
        ready = await desk.accept("lab", unknown.fingerprint)
        assert ready.kind == "ready", ready
        assert ready.report["python"]["executable"] == sys.executable
        assert ready.devices[-1] == "cpu" and servers.reports["lab"] is ready.report
        kept = sorted(p.name for p in packages.iterdir())
        assert len(kept) == 3 and {"v-newest", "v-newer"} <= set(kept), kept
        assert ready.space and ready.space > 2000
        assert seen[-3:] == ["checking", "connected", "ready"], seen

        # Install from a local wheel on the server (pip in the venv, through the guard).
        request = desk.install_request(["tsdemo==1.0"], venv["wheels"], no_index=True)
        request["python"] = venv["python"]
        job = await desk.install("lab", request)
        assert job.state == "done", list(job.lines)
        assert any("Successfully installed tsdemo-1.0" in line for line in job.lines)
        assert await asyncio.to_thread(imported_version, venv["python"]) == "1.0"
        assert desk.status("lab").kind == "ready"  # checked again after the install

        # The same Install here, into this machine's Python (the venv); a failure says why.
        job = await desk.install(HERE, desk.install_request(["tsmissing"], venv["wheels"], True))
        assert job.state == "failed" and "tsmissing" in job.progress, list(job.lines)
        assert desk.status(HERE).kind == "packages missing"  # the bare venv has no torch
        with pytest.raises(ValueError, match="nothing to install"):
            desk.install_request([" "])

        # The connection drops (the network, sshd restarting): the state says so.
        servers._sessions["lab"].abort()
        await eventually(
            lambda: desk.status("lab").kind == "connection lost",
            timeout=20,
            what="the lost connection in the state",
        )
        assert (await desk.reconnect("lab")).kind == "ready"
        assert "installing" in seen and seen[-1] == "ready"
    finally:
        await servers.close()


async def test_changed_key_refused_and_password_asked_after_a_restart(sshd, tmp_path):
    known_hosts = str(tmp_path / "known_hosts")
    other = asyncssh.generate_private_key("ssh-ed25519")
    record_host_key(known_hosts, sshd.host, sshd.port, other)
    servers = Servers(known_hosts=known_hosts)
    desk = ServerDesk(servers, lambda: None)
    try:
        desk.save(form_of(sshd, key_file=sshd.key_file))
        changed = await desk.check("lab")
        assert changed.kind == "host key changed" and "CHANGED" in changed.text
        public = other.export_public_key("openssh").decode().split()[1]
        assert changed.remove_lines == (f"[{sshd.host}]:{sshd.port} ssh-ed25519 {public}",)
        # A password login saved before a restart: its password is asked for.
        desk.save(form_of(sshd, name="pw", login="password"))
        servers._credentials.clear()  # what a restart leaves
        assert desk.status("pw").kind == "secret needed"
        desk.save(form_of(sshd, name="pw2", login="password"), original="pw")
        assert "pw" not in servers.book.entries and desk.status("pw2").secret == "password"
        with pytest.raises(ValueError, match="exists already"):
            desk.save(form_of(sshd, name="lab"), original="pw2")
        await desk.remove("pw2")
        assert desk.names() == ["lab"]
    finally:
        await servers.close()


def pip_processes(marker: str) -> list[int]:
    """Processes whose command line holds `marker` (this machine is the server too)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if marker in command:
            found.append(int(pid))
    return found


async def test_cancel_ends_pip_on_the_server(sshd, known_hosts, venv):
    # A wheel index that accepts connections and never answers: pip waits on it.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    marker = f"http://127.0.0.1:{silent.getsockname()[1]}/"
    servers = Servers(known_hosts=known_hosts)
    servers.add(sshd.entry(name="lab"))
    desk = ServerDesk(servers, lambda: None)
    try:
        request = desk.install_request(["tsdemo"], marker, no_index=True)
        request["python"] = venv["python"]
        task = asyncio.ensure_future(desk.install("lab", request))
        await eventually(lambda: pip_processes(marker), timeout=60, what="pip on the server")
        # pip started and says where it looks
        await eventually(lambda: desk.jobs["lab"].lines, timeout=60, what="pip's first line")
        desk.cancel_install("lab")
        job = await asyncio.wait_for(task, 30)
        assert job.state == "cancelled" and job.progress.startswith("cancelled")
        # pip goes with the command (the guard ends it)
        await eventually(lambda: not pip_processes(marker), timeout=10, what="pip gone")
    finally:
        silent.close()
        await servers.close()
