"""Remote-server secrets (password, key passphrase) stay out of files, logs and the page.

The secrets go through the real code path: `Studio.servers.add`, then real logins to the
test sshd (password, and an encrypted key with its passphrase), a failed login, the log
flushed into the project. Then the bytes of the .tsproj (and its WAL), the server book,
every log record and console line, and the served page HTML are searched for them.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from pathlib import Path

import pytest
from tests.helpers.server import new_project, serves_page, start_process
from tests.helpers.waiting import wait_until

from torchstudio.app.store import recent
from torchstudio.app.web.server import free_port
from torchstudio.remote.errors import RemoteError

HERE = Path(__file__).resolve().parent


def file_bytes(path: Path) -> bytes:
    """A file and its SQLite sidecars, as bytes."""
    return b"".join(
        Path(f"{path}{suffix}").read_bytes()
        for suffix in ("", "-wal", "-journal")
        if Path(f"{path}{suffix}").exists()
    )


async def test_secrets_stay_out_of_the_project_the_book_and_the_logs(
    sshd, known_hosts, tmp_path, monkeypatch, caplog, capfd
):
    if sshd.password_user is None:
        pytest.skip("password logins need a test user, which only root can create")
    from torchstudio.app.studio import Studio
    from torchstudio.remote.entry import ServerEntry

    monkeypatch.setenv("TORCHSTUDIO_HOME", str(tmp_path / "home"))
    caplog.set_level(logging.DEBUG)  # asyncssh's own records included
    studio = Studio()
    studio.servers.known_hosts = known_hosts
    await studio.new(tmp_path / "secrets.tsproj", demo=True)
    password, passphrase = sshd.password, sshd.passphrase
    try:
        by_password = ServerEntry(
            name="by-password", host=sshd.host, port=sshd.port, user=sshd.password_user
        )
        studio.servers.add(by_password, password=password)
        by_key = sshd.entry(name="by-key", key_file=sshd.encrypted_key_file)
        studio.servers.add(by_key, passphrase=passphrase)
        for name in ("by-password", "by-key"):
            session = await studio.servers.connect(name)
            studio.log.add("app", f"connected to {session.entry.label}")
        studio.servers.set_credentials("by-password", password="wrong-" + password)
        await studio.servers.disconnect("by-password")
        with pytest.raises(RemoteError) as refused:
            await studio.servers.connect("by-password")
        studio.log.add("app", str(refused.value))  # as the app shows a failed login
    finally:
        await studio.servers.close()
        await studio.close()  # flushes the log into the project

    project = file_bytes(tmp_path / "secrets.tsproj")
    book = (recent.home() / "servers.json").read_bytes()
    printed = capfd.readouterr()
    logs = "\n".join(r.getMessage() for r in caplog.records)
    # The searched places hold what they should: the entries, the log lines.
    assert b"by-password" in book and b"connected to" in project and logs
    for secret in (password, passphrase):
        encoded = secret.encode()
        assert encoded not in project, "a secret is in the project file"
        assert encoded not in book, "a secret is in the server book"
        assert secret not in logs and secret not in printed.out + printed.err
        assert secret not in repr(studio.servers._credentials)


@pytest.mark.slow
def test_secrets_stay_out_of_the_served_page(tmp_path):
    home = tmp_path / "home"
    project = new_project(tmp_path / "page.tsproj", home)
    secret = "pw-" + os.urandom(8).hex()
    port = free_port("127.0.0.1")
    env = {"TORCHSTUDIO_TEST_PROJECT": str(project), "TS_TEST_SECRET": secret}
    env["TS_TEST_PORT"] = str(port)
    server = start_process([sys.executable, str(HERE / "secret_page_app.py")], home, env=env)
    try:

        def page_while_running() -> bytes | None:
            if server.process.poll() is not None:
                raise AssertionError("the app ended: " + "".join(server.output))
            return serves_page(port)

        html = wait_until(page_while_running, timeout=120, what="the app's page").decode()
    finally:
        server.stop()
    output = "".join(server.output)
    assert "secret-server" in html, "the page does not list the server (nothing was searched)"
    assert secret not in html and "pp-secret-server" not in html
    assert secret not in output and not re.search(r"pp-secret-server", output)
    assert secret.encode() not in file_bytes(project)
    assert secret.encode() not in (home / "servers.json").read_bytes()
