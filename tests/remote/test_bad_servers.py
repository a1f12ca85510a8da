"""Bad servers through the app's server API (`Servers.check`), against the real sshd: each
answered with a clear text, and the same `Servers` then connects to a good entry."""

from __future__ import annotations

import socket

import asyncssh
import pytest

from torchstudio.app.runtime.remote_servers import Servers
from torchstudio.remote.hostkeys import record_host_key

pytestmark = pytest.mark.timeout(120)


async def checked_then_good(servers: Servers, sshd, bad_entry) -> dict:
    """Check the bad entry, then connect to a good one with the same API object."""
    servers.add(bad_entry)
    result = await servers.check(bad_entry.name)
    servers.add(sshd.entry(name="good"))
    session = await servers.connect("good")
    completed = await session.connection.run("echo still-here", check=True)
    assert completed.stdout.strip() == "still-here"
    return result


async def test_a_server_that_is_down(sshd, known_hosts):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens there once closed
    record_host_key(known_hosts, sshd.host, port, sshd.host_key)
    servers = Servers(known_hosts=known_hosts)
    try:
        result = await checked_then_good(servers, sshd, sshd.entry(name="down", port=port))
    finally:
        await servers.close()
    assert result["status"] == "error"
    assert f"cannot reach 127.0.0.1:{port}" in result["text"], result


async def test_a_server_that_refuses_the_key(sshd, known_hosts, tmp_path):
    stranger = asyncssh.generate_private_key("ssh-ed25519")
    key_file = tmp_path / "stranger_ed25519"
    stranger.write_private_key(str(key_file))
    key_file.chmod(0o600)
    servers = Servers(known_hosts=known_hosts)
    try:
        entry = sshd.entry(name="refuses", key_file=str(key_file))
        result = await checked_then_good(servers, sshd, entry)
    finally:
        await servers.close()
    assert result["status"] == "error", result
    text = result["text"]
    assert sshd.user in text and f"{sshd.port}" in text, text
    assert "refused the login" in text and str(key_file) in text, text


async def test_a_server_whose_host_key_changed(sshd, tmp_path):
    known_hosts = str(tmp_path / "known_hosts")
    record_host_key(known_hosts, sshd.host, sshd.port, asyncssh.generate_private_key("ssh-ed25519"))
    servers = Servers(known_hosts=known_hosts)
    try:
        servers.add(sshd.entry(name="changed"))
        result = await servers.check("changed")
        assert result["status"] == "changed_host_key"
        assert "CHANGED" in result["text"] and known_hosts in result["text"], result
        # Nothing was recorded behind the user's back: the same API still refuses it...
        assert (await servers.check("changed"))["status"] == "changed_host_key"
        # ...until the user removes the stale key (as `ssh-keygen -R` does) and accepts anew.
        open(known_hosts, "w").close()
        unknown = await servers.check("changed")
        assert unknown["status"] == "unknown_host", unknown
        await servers.accept_host_key("changed", unknown["fingerprint"])
        session = await servers.connect("changed")
        assert (await session.connection.run("echo ok", check=True)).stdout.strip() == "ok"
    finally:
        await servers.close()
