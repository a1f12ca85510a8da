"""The shell command lines run on a server (pure string building, quoted for a POSIX shell)."""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Mapping, Sequence

GUARD_MODULE = "torchstudio.remote.guard"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def resolve_python(python: str, home: str) -> str:
    """Expand a leading `~/` (the shell would not, once the path is quoted)."""
    if python == "~" or python.startswith("~/"):
        return posixpath.join(home, python[2:])
    return python


def python_command(
    python: str, package_folder: str, args: Sequence[str], env: Mapping[str, str] | None = None
) -> str:
    """`exec env PYTHONPATH=<package> ... python -u <args>`: the package version we uploaded."""
    variables = dict(env or {})
    for name in variables:
        if not _NAME.match(name):
            raise ValueError(f"{name!r} is not a valid environment variable name")
    extra_path = variables.pop("PYTHONPATH", "")
    variables = {"PYTHONPATH": ":".join(filter(None, [package_folder, extra_path])), **variables}
    assignments = " ".join(f"{name}={shlex.quote(value)}" for name, value in variables.items())
    words = " ".join(shlex.quote(word) for word in [python, "-u", *args])
    return f"exec env {assignments} {words}"


def worker_command(
    python: str,
    package_folder: str,
    module: str,
    address: str,
    port: int,
    env: Mapping[str, str] | None = None,
) -> str:
    """Run a worker under the guard, which ends it when the SSH session ends."""
    args = ["-m", GUARD_MODULE, "-m", module, "--address", address, "--port", str(int(port))]
    return python_command(python, package_folder, args, env)
