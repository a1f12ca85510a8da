"""A server entry (what the user types to add a server) and the secrets that go with it.

The entry is what gets saved; the secrets (a password, a key passphrase) only ever live
in memory, in a `Credentials` object whose repr hides them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

SECRET_FIELDS = ("password", "passphrase")


@dataclass(frozen=True)
class ServerEntry:
    """How to reach one server and which Python to run there.

    `key_file` is a private key (RSA, ECDSA or Ed25519, possibly encrypted); without it the
    login uses the password given in the `Credentials`. `remote_dir` is relative to the
    user's home on the server and holds the uploaded package versions.
    """

    name: str
    host: str
    user: str
    port: int = 22
    key_file: str | None = None
    python: str = "python3"
    remote_dir: str = ".torchstudio"

    @property
    def label(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"

    def validate(self) -> None:
        """Raise ValueError with the text for the user when a field cannot work."""
        if not self.name.strip():
            raise ValueError("a server needs a name")
        if not self.host.strip() or any(c.isspace() for c in self.host):
            raise ValueError(f"{self.host!r} is not a host name or address")
        if not self.user.strip():
            raise ValueError("a server needs a user name to log in as")
        if not 0 < int(self.port) < 65536:
            raise ValueError(f"port {self.port} is not between 1 and 65535")
        if not self.python.strip():
            raise ValueError("give the Python interpreter to use on the server")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ServerEntry:
        leaked = [name for name in SECRET_FIELDS if name in data]
        if leaked:
            # A saved file must never carry secrets; refuse rather than silently use them.
            raise ValueError(f"server entries cannot hold secrets ({', '.join(leaked)})")
        known = set(cls.__dataclass_fields__)
        entry = cls(**{k: v for k, v in data.items() if k in known})
        entry.validate()
        return entry


@dataclass(frozen=True)
class Credentials:
    """A password or a key passphrase, held in memory only (hidden from repr and logs)."""

    password: str | None = field(default=None, repr=False)
    passphrase: str | None = field(default=None, repr=False)
