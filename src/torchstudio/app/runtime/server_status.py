"""What the Servers dialog shows of each machine, as pure functions (no sockets, no UI).

A machine is a server entry or this machine (`HERE`). Its `ServerStatus` says where it
stands (never checked, unreachable and why, a host key to accept or a changed one refused,
packages missing, ready with its devices, connection lost...); `status_of_check` reads it
off `Servers.check`'s answer. `report_rows` turns a `pythoncheck` report into the rows of
the environment table, and `entry_from_form` the dialog's fields into a `ServerEntry`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from torchstudio.remote.entry import ServerEntry

HERE = ""  # the key of this machine's Python among the servers' statuses
KEEP_PACKAGE_VERSIONS = 3  # uploaded package versions kept on a server (the newest ones)

Kind = Literal[
    "not checked",
    "checking",
    "connected",
    "unreachable",
    "host key unknown",
    "host key changed",
    "secret needed",
    "packages missing",
    "ready",
    "installing",
    "connection lost",
]
# The colour of each state's badge (Quasar colour names).
COLOURS: dict[str, str] = {
    "not checked": "grey",
    "checking": "blue-grey",
    "connected": "blue",
    "unreachable": "negative",
    "host key unknown": "warning",
    "host key changed": "negative",
    "secret needed": "warning",
    "packages missing": "warning",
    "ready": "positive",
    "installing": "blue",
    "connection lost": "negative",
}


@dataclass(frozen=True)
class ServerStatus:
    """One machine's state as last seen, with what the dialog needs to show it."""

    kind: Kind = "not checked"
    text: str = ""  # the reason or summary for the user
    fingerprint: str | None = None  # the key to accept ("host key unknown")
    remove_lines: tuple[str, ...] = ()  # the known_hosts lines to remove ("host key changed")
    report: dict[str, Any] | None = None  # the last pythoncheck report
    space: int | None = None  # bytes used by the uploaded package versions
    secret: str | None = None  # "password" or "passphrase" when one is needed

    @property
    def devices(self) -> list[str]:
        return device_names(self.report)

    @property
    def label(self) -> str:
        """The line under the machine's name: state, then devices or reason."""
        if self.kind == "ready":
            return f"ready · {devices_summary(self.report)}"
        return f"{self.kind}: {self.text}" if self.text else self.kind


SECRET_HINTS = (
    ("give its passphrase", "passphrase"),
    ("give a password", "password"),
)


def status_of_check(result: dict[str, Any], space: int | None = None) -> ServerStatus:
    """The state an answer of `Servers.check` puts a server in."""
    status, text = result.get("status"), str(result.get("text") or "")
    if status == "unknown_host":
        return ServerStatus("host key unknown", text, fingerprint=result.get("fingerprint"))
    if status == "changed_host_key":
        lines = tuple(result.get("remove_lines") or ())
        return ServerStatus("host key changed", text, result.get("fingerprint"), lines)
    if status == "error":
        for hint, secret in SECRET_HINTS:
            if hint in text:
                return ServerStatus("secret needed", text, secret=secret)
        return ServerStatus("unreachable", text)
    report = result.get("report") or {}
    if report.get("ok"):
        return ServerStatus("ready", "", report=report, space=space)
    return ServerStatus(
        "packages missing", ", ".join(report.get("missing") or []), report=report, space=space
    )


def device_names(report: dict[str, Any] | None) -> list[str]:
    """The devices a model can use on the machine: its CUDA GPUs, MPS, then the CPU."""
    devices = (report or {}).get("devices") or {}
    names = [f"cuda:{gpu['index']}" for gpu in devices.get("cuda") or []]
    if devices.get("mps"):
        names.append("mps")
    return [*names, "cpu"]


def devices_summary(report: dict[str, Any] | None) -> str:
    """ "2 × NVIDIA H200, 16 CPU cores" or "8 CPU cores"."""
    devices = (report or {}).get("devices") or {}
    names: dict[str, int] = {}
    for gpu in devices.get("cuda") or []:
        names[gpu["name"]] = names.get(gpu["name"], 0) + 1
    parts = [f"{count} × {name}" if count > 1 else name for name, count in names.items()]
    if devices.get("mps"):
        parts.append("Apple GPU (MPS)")
    cores = (devices.get("cpu") or {}).get("cores")
    if cores:
        parts.append(f"{cores} CPU cores")
    return ", ".join(parts) or "CPU"


def gibibytes(size: int) -> str:
    return f"{size / 2**30:.1f} GiB"


def report_rows(report: dict[str, Any] | None) -> list[dict[str, str]]:
    """The environment table: Python, each needed package, each device; `state` ok or not."""
    if not report:
        return []
    python = report.get("python") or {}
    rows = [
        {
            "item": "Python",
            "found": str(python.get("version") or "?"),
            "needed": f">= {python.get('minimum', '?')}",
            "state": "ok" if python.get("ok") else "too old",
        }
    ]
    for package in report.get("packages") or []:
        version = package.get("version")
        rows.append(
            {
                "item": str(package["name"]),
                "found": str(version) if version else "not installed",
                "needed": f">= {package['minimum']}",
                "state": "ok" if package.get("ok") else ("too old" if version else "missing"),
            }
        )
    devices = report.get("devices") or {}
    for gpu in devices.get("cuda") or []:
        rows.append(
            {
                "item": f"cuda:{gpu['index']}",
                "found": f"{gpu['name']}, {gibibytes(int(gpu['memory']))}, "
                f"compute capability {gpu['capability']}",
                "needed": "",
                "state": "device",
            }
        )
    if devices.get("mps"):
        rows.append({"item": "mps", "found": "Apple GPU", "needed": "", "state": "device"})
    cpu = devices.get("cpu") or {}
    if cpu:
        usable = cpu.get("usable_cores")
        extra = f" ({usable} usable)" if usable and usable != cpu.get("cores") else ""
        rows.append(
            {
                "item": "cpu",
                "found": f"{cpu.get('cores')} cores{extra}, {cpu.get('machine', '')}".rstrip(", "),
                "needed": "",
                "state": "device",
            }
        )
    if devices.get("error"):
        rows.append({"item": "devices", "found": devices["error"], "needed": "", "state": "error"})
    return rows


def missing_specs(report: dict[str, Any] | None) -> list[str]:
    """What Install installs by default: each package that is missing or too old."""
    packages = (report or {}).get("packages") or []
    return [f"{p['name']}>={p['minimum']}" for p in packages if not p.get("ok")]


def size_text(size: int | None) -> str:
    if size is None:
        return "unknown"
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024  # type: ignore[assignment]
    return ""


@dataclass
class EntryForm:
    """The add/edit form's fields as typed (texts), before they make a `ServerEntry`."""

    name: str = ""
    host: str = ""
    port: str = "22"
    user: str = ""
    login: str = "key"  # "key" or "password"
    key_file: str = ""
    python: str = "python3"
    remote_dir: str = ".torchstudio"
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, entry: ServerEntry) -> EntryForm:
        return cls(
            entry.name,
            entry.host,
            str(entry.port),
            entry.user,
            "key" if entry.key_file else "password",
            entry.key_file or "",
            entry.python,
            entry.remote_dir,
        )


def entry_from_form(form: EntryForm) -> ServerEntry:
    """The entry the form describes; ValueError naming the field and what it expects."""
    try:
        port = int(form.port.strip() or "22")
    except ValueError:
        raise ValueError(
            f"SSH port: {form.port!r} is not a number (22 is SSH's usual port)"
        ) from None
    if form.login == "key" and not form.key_file.strip():
        raise ValueError("key file: give the private key's path, or choose a password login")
    entry = ServerEntry(
        name=form.name.strip(),
        host=form.host.strip(),
        user=form.user.strip(),
        port=port,
        key_file=form.key_file.strip() if form.login == "key" else None,
        python=form.python.strip(),
        remote_dir=form.remote_dir.strip() or ".torchstudio",
    )
    entry.validate()
    return entry


Route = Literal["same", "to_server", "from_server", "through_app"]


def link_route(source: str | None, target: str | None) -> Route:
    """How a data link of a worker on `source` reaches a worker on `target` (None: here)."""
    if source == target:
        return "same"
    if source is None:
        return "to_server"
    if target is None:
        return "from_server"
    return "through_app"
