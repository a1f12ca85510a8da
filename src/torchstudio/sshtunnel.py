"""SSH tunnel to run TorchStudio scripts on a server as if they were local.

`SSHSession.open` is the one way TorchStudio talks SSH (asyncssh): it verifies the host key
against known_hosts, logs in with a key file or a password, and then offers
- `launch`, the worker manager's `Launcher`: upload the package (once per version), run
  `python -m <module>` under the guard, secret on stdin, stderr streamed;
- `reverse_port`: a port on the server that reaches an address here (the app's listener,
  a local `datasetload` data server);
- `local_port`: a port here that reaches an address on the server (a remote data server);
- `run`: a plain command, e.g. `python -m torchstudio.pythoncheck --json`;
- `start_module`: a longer command under the guard, its lines streamed (pythoninstall);
- `housekeeping`: old uploaded package versions removed, the space the rest use.
Forwarding and SFTP come from asyncssh; passwords and passphrases are passed to it and
never stored or logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import asyncssh

from torchstudio.remote.command import (
    GUARD_MODULE,
    python_command,
    resolve_python,
    worker_command,
)
from torchstudio.remote.entry import Credentials, ServerEntry
from torchstudio.remote.errors import RemoteError
from torchstudio.remote.hostkeys import (
    ChangedHostKey,
    UnknownHostKey,
    fetch_host_key,
    fingerprint,
    known_hosts_path,
    read_known_hosts,
    recorded_keys,
)
from torchstudio.remote.package import package_root
from torchstudio.remote.process import SSHProcess
from torchstudio.remote.upload import Upload, remove_old_versions, tree_size, upload_package

KEEPALIVE_SECONDS = 15  # a silent network drop is noticed after about three of these
CONNECT_TIMEOUT = 20


@dataclass(frozen=True)
class Completed:
    returncode: int | None
    stdout: str
    stderr: str


def load_client_key(path: str, passphrase: str | None) -> asyncssh.SSHKey:
    """Read a private key file, turning asyncssh's errors into clear ones."""
    path = os.path.expanduser(path)
    try:
        return asyncssh.read_private_key(path, passphrase)
    except OSError as exc:
        raise RemoteError(f"cannot read the key file {path}: {exc.strerror or exc}") from exc
    except (asyncssh.KeyImportError, asyncssh.KeyEncryptionError) as exc:
        text = str(exc).lower()
        if "bcrypt" in text:
            raise RemoteError(
                f"the key file {path} is an encrypted OpenSSH key: reading it needs the "
                "bcrypt package (pip install bcrypt)"
            ) from None
        if passphrase is None and "passphrase" in text:
            raise RemoteError(f"the key file {path} is encrypted: give its passphrase") from None
        if passphrase is not None and ("passphrase" in text or "decrypt" in text):
            raise RemoteError(f"cannot decrypt the key file {path}: wrong passphrase") from None
        raise RemoteError(f"{path} is not a private key TorchStudio can use: {exc}") from None


def _auth_options(entry: ServerEntry, credentials: Credentials) -> dict[str, Any]:
    if entry.key_file:
        key = load_client_key(entry.key_file, credentials.passphrase)
        return {"client_keys": [key], "password": None}
    if credentials.password is None:
        raise RemoteError(f"{entry.label}: give a password or a key file to log in")
    return {"client_keys": None, "password": credentials.password}


async def connect(
    entry: ServerEntry, credentials: Credentials, known_hosts: str | None = None
) -> asyncssh.SSHClientConnection:
    """Log in, with the host key checked; raises UnknownHostKey, ChangedHostKey or RemoteError."""
    path = known_hosts_path(known_hosts)
    known = read_known_hosts(path)
    recorded = recorded_keys(known, entry.host, entry.port)
    if not recorded:
        raise UnknownHostKey(entry.host, entry.port, await fetch_host_key(entry.host, entry.port))
    options = _auth_options(entry, credentials)
    try:
        return await asyncssh.connect(
            entry.host,
            entry.port,
            username=entry.user,
            known_hosts=known,
            config=None,  # the entry says everything; ~/.ssh/config must not redirect it
            agent_path=None,
            preferred_auth="publickey" if entry.key_file else "password,keyboard-interactive",
            keepalive_interval=KEEPALIVE_SECONDS,
            keepalive_count_max=3,
            connect_timeout=CONNECT_TIMEOUT,
            **options,
        )
    except asyncssh.HostKeyNotVerifiable:
        now: str | None = None
        with contextlib.suppress(RemoteError):
            now = fingerprint(await fetch_host_key(entry.host, entry.port, like=recorded))
        raise ChangedHostKey(entry.host, entry.port, now, path) from None
    except asyncssh.PermissionDenied:
        how = (
            f"the key file {entry.key_file} was not accepted (is its public key in the "
            "server's authorized_keys?)"
            if entry.key_file
            else "wrong user name or password"
        )
        raise RemoteError(f"{entry.label} refused the login: {how}") from None
    except asyncssh.Error as exc:
        raise RemoteError(f"SSH connection to {entry.label} failed: {exc.reason}") from None
    except (OSError, TimeoutError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc) or "timed out"
        raise RemoteError(f"cannot reach {entry.host}:{entry.port}: {reason}") from None


class SSHSession:
    """One logged-in connection to a server; also the manager's `Launcher` for that server."""

    def __init__(self, entry: ServerEntry, connection: asyncssh.SSHClientConnection) -> None:
        self.entry = entry
        self.connection = connection
        self.upload: Upload | None = None
        self._home: str | None = None
        self._upload_lock = asyncio.Lock()
        self._reverse: dict[tuple[str, int], asyncssh.SSHListener] = {}
        self._local: dict[tuple[str, int], asyncssh.SSHListener] = {}

    @classmethod
    async def open(
        cls, entry: ServerEntry, credentials: Credentials, known_hosts: str | None = None
    ) -> SSHSession:
        return cls(entry, await connect(entry, credentials, known_hosts))

    @property
    def closed(self) -> bool:
        return self.connection.is_closed()

    async def close(self) -> None:
        self.connection.close()
        with contextlib.suppress(Exception):
            await self.connection.wait_closed()

    def abort(self) -> None:
        """Drop the connection at once (what a network failure does)."""
        self.connection.abort()

    async def home(self) -> str:
        if self._home is None:
            async with self.connection.start_sftp_client() as sftp:
                self._home = await sftp.realpath(".")
        return self._home

    async def ensure_package(self) -> Upload:
        """Upload this package version unless the server has it; once per session."""
        async with self._upload_lock:
            if self.upload is None:
                home = await self.home()
                packages = posixpath.join(home, self.entry.remote_dir, "packages")
                try:
                    async with self.connection.start_sftp_client() as sftp:
                        await sftp.makedirs(packages, exist_ok=True)
                        self.upload = await upload_package(sftp, package_root(), packages)
                except (asyncssh.Error, OSError) as exc:
                    raise RemoteError(f"cannot upload to {self.entry.label}: {exc}") from exc
            return self.upload

    async def python(self) -> str:
        return resolve_python(self.entry.python, await self.home())

    async def reverse_port(self, address: str, port: int) -> int:
        """A loopback port on the server whose connections reach `address:port` here."""
        key = (address, port)
        if key not in self._reverse:
            try:
                self._reverse[key] = await self.connection.forward_remote_port(
                    "127.0.0.1", 0, address, port
                )
            except (asyncssh.Error, OSError) as exc:
                raise RemoteError(f"{self.entry.label} refused port forwarding: {exc}") from exc
        return self._reverse[key].get_port()

    async def local_port(self, address: str, port: int) -> int:
        """A loopback port here whose connections reach `address:port` on the server."""
        key = (address, port)
        if key not in self._local:
            self._local[key] = await self.connection.forward_local_port(
                "127.0.0.1", 0, address, port
            )
        return self._local[key].get_port()

    async def launch(
        self, module: str, address: str, port: int, secret: str, env: Mapping[str, str]
    ) -> SSHProcess:
        """The `Launcher` protocol: start `python -m module` on the server."""
        upload = await self.ensure_package()
        command = worker_command(await self.python(), upload.folder, module, address, port, env)
        try:
            process = await self.connection.create_process(command, encoding=None)
        except (asyncssh.Error, OSError) as exc:
            raise RemoteError(f"cannot start {module} on {self.entry.label}: {exc}") from exc
        return await SSHProcess.started(process, secret, self.entry.label)

    async def start_module(self, module: str, args: Sequence[str]) -> SSHProcess:
        """Start `python -m module args` under the guard: its output comes as stderr lines,
        `terminate` ends it and everything it started, and so does a dropped connection."""
        upload = await self.ensure_package()
        words = ["-m", GUARD_MODULE, "-m", module, *args]
        command = python_command(await self.python(), upload.folder, words)
        try:
            process = await self.connection.create_process(command, encoding=None)
        except (asyncssh.Error, OSError) as exc:
            raise RemoteError(f"cannot start {module} on {self.entry.label}: {exc}") from exc
        return await SSHProcess.started(process, "", self.entry.label)

    async def housekeeping(self, keep: int) -> int:
        """Remove uploaded package versions but the one in use and the newest others, up to
        `keep` in all; returns the bytes the remaining ones use."""
        upload = await self.ensure_package()
        packages = posixpath.dirname(upload.folder)
        try:
            async with self.connection.start_sftp_client() as sftp:
                await remove_old_versions(sftp, packages, upload.version, keep)
                return await tree_size(sftp, packages)
        except (asyncssh.Error, OSError) as exc:
            raise RemoteError(f"cannot tidy {packages} on {self.entry.label}: {exc}") from exc

    async def run(
        self, args: Sequence[str], env: Mapping[str, str] | None = None, timeout: float = 120
    ) -> Completed:
        """Run `python -u <args>` with the uploaded package; returns its output."""
        upload = await self.ensure_package()
        command = python_command(await self.python(), upload.folder, args, env)
        try:
            result = await self.connection.run(command, check=False, timeout=timeout)
        except (asyncssh.Error, OSError) as exc:
            raise RemoteError(
                f"running {' '.join(args)} on {self.entry.label} failed: {exc}"
            ) from exc
        return Completed(result.returncode, str(result.stdout or ""), str(result.stderr or ""))
