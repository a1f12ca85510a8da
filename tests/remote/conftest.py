"""A real OpenSSH server for the remote tests, in a private configuration.

Debian's sshd runs on a free loopback port from a temporary folder: its own host key, an
authorized_keys file with generated test keys, password logins for a dedicated test user
(created when the tests run as root), no PAM, and a pid file of its own. It is stopped
when the session ends. The "server" is this machine, so the tests can also look at its
processes directly.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import secrets
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import asyncssh
import pytest
from tests.helpers.waiting import wait_until

from torchstudio.remote.entry import ServerEntry
from torchstudio.remote.hostkeys import record_host_key

SSHD = "/usr/sbin/sshd"
REPO = Path(__file__).resolve().parents[2]
PASSWORD_USER = "tsremote"


@dataclass
class SSHServer:
    host: str
    port: int
    folder: Path
    host_key: asyncssh.SSHKey
    user: str  # the user running the tests; logs in with the keys
    key_file: str  # unencrypted Ed25519
    encrypted_key_file: str  # RSA in PKCS#8, encrypted with `passphrase`
    openssh_key_file: str  # ECDSA in OpenSSH's format, encrypted with `passphrase`
    passphrase: str
    password_user: str | None  # None when the tests cannot create a user (not root)
    password: str | None
    log: Path

    def entry(self, **changes: object) -> ServerEntry:
        """An entry for the key login, running this interpreter as the server's Python."""
        values: dict[str, object] = {
            "name": "test server",
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "key_file": self.key_file,
            "python": sys.executable,
            "remote_dir": str(self.folder / "remote-home"),
        }
        values.update(changes)
        return ServerEntry(**values)  # type: ignore[arg-type]

    def trusting_known_hosts(self, folder: Path) -> str:
        """A known_hosts file in `folder` that already trusts this server."""
        path = folder / "known_hosts"
        record_host_key(str(path), self.host, self.port, self.host_key)
        return str(path)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _ensure_sshd() -> None:
    if not os.path.exists(SSHD):
        subprocess.run(["bash", str(REPO / "scripts" / "install-system-packages.sh")], check=False)
    if not os.path.exists(SSHD):
        pytest.skip("OpenSSH's sshd is not installed and could not be installed (apt-get failed)")


def _password_user() -> tuple[str | None, str | None]:
    """A local user with a fresh random password, for the password logins (root only)."""
    if os.geteuid() != 0:
        return None, None
    if subprocess.run(["id", PASSWORD_USER], capture_output=True).returncode != 0:
        subprocess.run(["useradd", "-m", "-s", "/bin/sh", PASSWORD_USER], check=True)
    # Every xdist process of one run sets the same password, so none undoes another's.
    password = os.environ.get("PYTEST_XDIST_TESTRUNUID", "")[:16] or secrets.token_urlsafe(12)
    subprocess.run(["chpasswd"], input=f"{PASSWORD_USER}:{password}\n", text=True, check=True)
    return PASSWORD_USER, password


def _wait_for_banner(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    def answers() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"sshd exited: {log.read_text()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1) as s:
            return s.recv(4).startswith(b"SSH-")
        return False

    wait_until(answers, timeout=20, what=f"sshd's banner on port {port} ({log})")


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory):
    _ensure_sshd()
    folder = tmp_path_factory.mktemp("sshd")
    folder.chmod(0o755)  # the password user's session reads nothing here but must traverse
    host_key = asyncssh.generate_private_key("ssh-ed25519")
    host_key.write_private_key(str(folder / "host_ed25519"))
    (folder / "host_ed25519").chmod(0o600)
    key = asyncssh.generate_private_key("ssh-ed25519")
    key.write_private_key(str(folder / "client_ed25519"))
    passphrase = secrets.token_urlsafe(10)
    rsa = asyncssh.generate_private_key("ssh-rsa", key_size=2048)
    # PKCS#8 encryption needs only `cryptography`; OpenSSH's own format needs bcrypt too.
    rsa.write_private_key(str(folder / "client_rsa"), "pkcs8-pem", passphrase=passphrase)
    # ssh-keygen's own format (encrypted with bcrypt's KDF), as most users' keys are.
    ecdsa = str(folder / "client_ecdsa")
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ecdsa", "-N", passphrase, "-C", "", "-f", ecdsa], check=True
    )
    authorized = b"".join(k.export_public_key() for k in (key, rsa))
    authorized += Path(ecdsa + ".pub").read_bytes()
    (folder / "authorized_keys").write_bytes(authorized)
    password_user, password = _password_user()
    port = _free_port()
    config = folder / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\n"
        f"HostKey {folder / 'host_ed25519'}\nPidFile {folder / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {folder / 'authorized_keys'}\n"
        "PubkeyAuthentication yes\nPasswordAuthentication yes\nKbdInteractiveAuthentication no\n"
        "PermitRootLogin yes\nUsePAM no\nStrictModes no\nAllowTcpForwarding yes\n"
        "PermitEmptyPasswords no\nMaxStartups 100\nMaxSessions 100\nLogLevel VERBOSE\n"
        "Subsystem sftp internal-sftp\n"
    )
    if os.geteuid() == 0:
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # the privilege separation dir
    log = folder / "sshd.log"
    with open(log, "wb") as log_file:
        process = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stderr=log_file)
    try:
        _wait_for_banner(port, process, log)
        yield SSHServer(
            host="127.0.0.1",
            port=port,
            folder=folder,
            host_key=host_key,
            user=getpass.getuser(),
            key_file=str(folder / "client_ed25519"),
            encrypted_key_file=str(folder / "client_rsa"),
            openssh_key_file=ecdsa,
            passphrase=passphrase,
            password_user=password_user,
            password=password,
            log=log,
        )
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(folder / "remote-home", ignore_errors=True)


@pytest.fixture
def known_hosts(sshd: SSHServer, tmp_path: Path) -> str:
    return sshd.trusting_known_hosts(tmp_path)


@pytest.fixture
async def servers(sshd: SSHServer, known_hosts: str):
    """The app's server API with the test server added (key login) and trusted."""
    from torchstudio.app.runtime.remote_servers import Servers

    api = Servers(known_hosts=known_hosts)
    api.add(sshd.entry())
    try:
        yield api
    finally:
        await api.close()
