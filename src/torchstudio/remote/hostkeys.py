"""Host key checks against an OpenSSH known_hosts file: trusted, unknown, or changed.

An unknown server is never trusted silently: the app shows the fingerprint, and only the
user's acceptance records the key. A key that differs from the recorded one is refused
with a warning, since that is what a man-in-the-middle looks like.
"""

from __future__ import annotations

import os

import asyncssh

from torchstudio.remote.errors import RemoteError

DEFAULT_KNOWN_HOSTS = os.path.join("~", ".ssh", "known_hosts")
KNOWN_HOSTS_VARIABLE = "TORCHSTUDIO_KNOWN_HOSTS"  # another file than ssh's own, if set


class UnknownHostKey(RemoteError):
    """The server's key is not in known_hosts yet; the user may accept its fingerprint."""

    def __init__(self, host: str, port: int, key: asyncssh.SSHKey) -> None:
        self.host, self.port, self.key = host, port, key
        self.fingerprint = fingerprint(key)
        super().__init__(
            f"{host}:{port} is not a known host. Its {key.get_algorithm()} key fingerprint is "
            f"{self.fingerprint}. Accept it only if it matches the server's own key "
            "(run `ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub` on the server to compare)."
        )


class ChangedHostKey(RemoteError):
    """The server presents another key than the recorded one: refused."""

    def __init__(self, host: str, port: int, fingerprint_now: str | None, known_hosts: str) -> None:
        self.host, self.port, self.fingerprint = host, port, fingerprint_now
        seen = f" (it now presents {fingerprint_now})" if fingerprint_now else ""
        super().__init__(
            f"WARNING: the host key of {host}:{port} has CHANGED{seen}. Someone may be "
            "intercepting the connection, so TorchStudio refuses to connect. If the server was "
            f"reinstalled, remove its old line from {known_hosts} and connect again."
        )


def known_hosts_path(path: str | None = None) -> str:
    """`path`, else `TORCHSTUDIO_KNOWN_HOSTS`, else ssh's own `~/.ssh/known_hosts`."""
    return os.path.expanduser(path or os.environ.get(KNOWN_HOSTS_VARIABLE) or DEFAULT_KNOWN_HOSTS)


def host_pattern(host: str, port: int) -> str:
    """The host field of a known_hosts line, as OpenSSH writes it."""
    return host if port == 22 else f"[{host}]:{port}"


def fingerprint(key: asyncssh.SSHKey) -> str:
    return key.get_fingerprint("sha256")


def known_hosts_line(host: str, port: int, key: asyncssh.SSHKey) -> str:
    public = key.export_public_key("openssh").decode().split()
    return f"{host_pattern(host, port)} {public[0]} {public[1]}\n"


def read_known_hosts(path: str) -> asyncssh.SSHKnownHosts:
    """The parsed file; an absent file is an empty list (nothing trusted yet)."""
    try:
        with open(path, encoding="utf-8") as file:
            return asyncssh.import_known_hosts(file.read())
    except FileNotFoundError:
        return asyncssh.SSHKnownHosts()
    except (OSError, ValueError) as exc:
        raise RemoteError(f"cannot read the known hosts file {path}: {exc}") from exc


def recorded_keys(known: asyncssh.SSHKnownHosts, host: str, port: int) -> list[asyncssh.SSHKey]:
    """Host and CA keys recorded for this host (revoked ones excluded)."""
    host_keys, ca_keys, *_ = known.match(host, "", port)
    return [*host_keys, *ca_keys]


def record_host_key(path: str, host: str, port: int, key: asyncssh.SSHKey) -> None:
    """Append the accepted key to known_hosts (created private if absent)."""
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, mode=0o700, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(descriptor, "a", encoding="utf-8") as file:
        file.write(known_hosts_line(host, port, key))


async def fetch_host_key(
    host: str, port: int, like: list[asyncssh.SSHKey] | None = None
) -> asyncssh.SSHKey:
    """The key the server presents; with `like`, of the same types as those keys."""
    algorithms = [alg.decode() for key in like or [] for alg in key.sig_algorithms]
    try:
        key = await asyncssh.get_server_host_key(
            host, port, server_host_key_algs=algorithms or (), config=None
        )
    except (OSError, asyncssh.Error) as exc:
        if algorithms:  # the server may no longer offer the recorded key type at all
            return await fetch_host_key(host, port)
        raise RemoteError(f"cannot get the host key of {host}:{port}: {exc}") from exc
    if key is None:
        raise RemoteError(f"{host}:{port} presented no host key")
    return key
