"""Logins, host keys and their errors against the real sshd."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import asyncssh
import pytest

from torchstudio.app.runtime.remote_servers import ServerBook, Servers
from torchstudio.remote.entry import Credentials, ServerEntry
from torchstudio.remote.errors import RemoteError
from torchstudio.remote.hostkeys import (
    ChangedHostKey,
    UnknownHostKey,
    fingerprint,
    record_host_key,
)
from torchstudio.sshtunnel import SSHSession

pytestmark = pytest.mark.timeout(60)


async def whoami(session: SSHSession) -> str:
    return (await session.connection.run("id -un", check=True)).stdout.strip()


async def test_key_login(sshd, known_hosts):
    session = await SSHSession.open(sshd.entry(), Credentials(), known_hosts)
    try:
        assert await whoami(session) == sshd.user
    finally:
        await session.close()


async def test_encrypted_key_needs_its_passphrase(sshd, known_hosts):
    entry = sshd.entry(key_file=sshd.encrypted_key_file)
    with pytest.raises(RemoteError, match="is encrypted: give its passphrase"):
        await SSHSession.open(entry, Credentials(), known_hosts)
    with pytest.raises(RemoteError, match="wrong passphrase"):
        await SSHSession.open(entry, Credentials(passphrase="not it"), known_hosts)
    session = await SSHSession.open(entry, Credentials(passphrase=sshd.passphrase), known_hosts)
    try:
        assert await whoami(session) == sshd.user
    finally:
        await session.close()


async def test_encrypted_openssh_key(sshd, known_hosts):
    entry = sshd.entry(key_file=sshd.openssh_key_file)
    credentials = Credentials(passphrase=sshd.passphrase)
    try:
        import bcrypt  # noqa: F401  (asyncssh decrypts OpenSSH-format keys with it)
    except ImportError:
        with pytest.raises(RemoteError, match="needs the bcrypt package"):
            await SSHSession.open(entry, credentials, known_hosts)
        return
    session = await SSHSession.open(entry, credentials, known_hosts)
    try:
        assert await whoami(session) == sshd.user
    finally:
        await session.close()


async def test_password_login_and_wrong_password(sshd, known_hosts):
    if sshd.password_user is None:
        pytest.skip("password logins need a test user, which only root can create")
    entry = sshd.entry(user=sshd.password_user, key_file=None)
    session = await SSHSession.open(entry, Credentials(password=sshd.password), known_hosts)
    try:
        assert await whoami(session) == sshd.password_user
    finally:
        await session.close()
    with pytest.raises(RemoteError, match="refused the login: wrong user name or password") as e:
        await SSHSession.open(entry, Credentials(password="wrong-" + sshd.password), known_hosts)
    assert sshd.password not in str(e.value)
    assert sshd.password not in repr(Credentials(password=sshd.password))


async def test_unknown_host_shows_the_fingerprint_then_is_accepted(sshd, tmp_path):
    known_hosts = str(tmp_path / "ssh" / "known_hosts")  # not there yet
    servers = Servers(known_hosts=known_hosts)
    servers.add(sshd.entry())
    with pytest.raises(UnknownHostKey) as unknown:
        await servers.connect("test server")
    assert unknown.value.fingerprint == fingerprint(sshd.host_key)
    checked = await servers.check("test server")
    assert checked["status"] == "unknown_host"
    assert checked["fingerprint"] == fingerprint(sshd.host_key)
    assert checked["fingerprint"] in checked["text"]

    with pytest.raises(RemoteError, match="nothing was recorded"):
        await servers.accept_host_key("test server", "SHA256:someoneelse")
    await servers.accept_host_key("test server", checked["fingerprint"])
    assert f"[{sshd.host}]:{sshd.port} ssh-ed25519 " in Path(known_hosts).read_text()
    try:
        session = await servers.connect("test server")
        assert await whoami(session) == sshd.user
    finally:
        await servers.close()


async def test_a_changed_host_key_is_refused(sshd, tmp_path):
    known_hosts = str(tmp_path / "known_hosts")
    impostor = asyncssh.generate_private_key("ssh-ed25519")
    record_host_key(known_hosts, sshd.host, sshd.port, impostor)
    with pytest.raises(ChangedHostKey, match="has CHANGED") as changed:
        await SSHSession.open(sshd.entry(), Credentials(), known_hosts)
    assert changed.value.fingerprint == fingerprint(sshd.host_key)
    assert known_hosts in str(changed.value)
    servers = Servers(known_hosts=known_hosts)
    servers.add(sshd.entry())
    checked = await servers.check("test server")
    assert checked["status"] == "changed_host_key" and "refuses to connect" in checked["text"]


async def test_unreachable_server(sshd, known_hosts):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens there once closed
    entry = sshd.entry(port=port)
    record_host_key(known_hosts, sshd.host, port, sshd.host_key)
    with pytest.raises(RemoteError, match=f"cannot reach 127.0.0.1:{port}"):
        await SSHSession.open(entry, Credentials(), known_hosts)


def test_saved_servers_never_hold_secrets(sshd, tmp_path):
    path = str(tmp_path / "servers.json")
    servers = Servers(ServerBook(path))
    servers.add(sshd.entry(key_file=None), password="s3cret-password", passphrase="s3cret-phrase")
    text = Path(path).read_text()
    assert "s3cret" not in text and json.loads(text)[0]["host"] == sshd.host
    assert ServerBook(path).get("test server") == sshd.entry(key_file=None)
    with pytest.raises(ValueError, match="cannot hold secrets"):
        ServerEntry.from_json({**sshd.entry().to_json(), "password": "x"})
