"""Install packages into a chosen Python environment with pip, here or on a server.

`pip_command` builds the command (pure): specific packages, and optionally the CPU or a
CUDA build of torch from PyTorch's package index, or local wheels (`find_links`, with
`no_index` for machines without network). `install` runs it, streaming every output line,
and raises `InstallError` naming what failed with pip's last lines. As a worker it answers
`install` (a background job) and sends each line as an `output` message plus progress.
`python -m torchstudio.pythoninstall --json REQUEST` runs one install with the standard
library only (a bare server has no numpy for the worker protocol yet): pip's lines go to
stderr, a failure ends with its message and exit status 1.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torchstudio.worker import WorkerContext

TORCH_INDEX = "https://download.pytorch.org/whl/"
TORCH_BUILDS = ("cpu", "cu126", "cu128", "cu130")
TORCH_PACKAGES = ("torch", "torchvision")
TAIL_LINES = 15
# pip gives no totals: a line starting with one of these is the progress text.
PROGRESS_PREFIXES = ("Collecting", "Processing", "Installing", "Successfully")


class InstallError(Exception):
    """pip failed; the message says which packages and shows pip's last lines."""


@dataclass
class InstallRequest:
    packages: list[str] = field(default_factory=list)
    torch: str | None = None  # None, "cpu", or a CUDA build such as "cu128"
    python: str | None = None  # the interpreter to install into; this one by default
    find_links: list[str] = field(default_factory=list)
    no_index: bool = False
    upgrade: bool = False

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> InstallRequest:
        known = set(cls.__dataclass_fields__)
        unknown = set(value) - known
        if unknown:
            raise InstallError(f"unknown install options: {', '.join(sorted(unknown))}")
        request = cls(**value)
        if request.torch is not None and request.torch not in TORCH_BUILDS:
            raise InstallError(
                f"torch build must be one of {', '.join(TORCH_BUILDS)}, not {request.torch!r}"
            )
        if not request.packages and request.torch is None:
            raise InstallError("nothing to install: give packages or a torch build")
        return request


def pip_command(request: InstallRequest) -> list[str]:
    python = request.python or sys.executable
    command = [
        python,
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--progress-bar",
        "off",
    ]
    if request.upgrade:
        command.append("--upgrade")
    if request.no_index:
        command.append("--no-index")
    for link in request.find_links:
        command += ["--find-links", link]
    packages = list(request.packages)
    if request.torch is not None:
        # torch's own index serves the chosen build; other packages still come from PyPI.
        command += ["--extra-index-url", TORCH_INDEX + request.torch]
        packages += [p for p in TORCH_PACKAGES if p not in packages]
    return command + packages


def install(request: InstallRequest, on_line: Callable[[str], None] | None = None) -> list[str]:
    """Run pip; every output line goes to `on_line`. Returns the command that succeeded."""
    command = pip_command(request)
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    try:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
    except OSError as exc:
        raise InstallError(f"cannot run {command[0]}: {exc.strerror or exc}") from exc
    assert process.stdout is not None
    try:
        for line in process.stdout:
            line = line.rstrip("\n")
            tail.append(line)
            if on_line is not None:
                on_line(line)
    except BaseException:  # cancelled (SIGTERM in the command mode): pip goes too
        process.kill()
        process.wait()
        raise
    if process.wait() != 0:
        what = " ".join(command[command.index("install") + 1 :])
        details = "\n".join(line for line in tail if line.strip())
        raise InstallError(
            f"pip could not install {what} (exit code {process.returncode}):\n{details}"
        )
    return command


def install_handler(value: dict[str, Any], ctx: WorkerContext) -> dict[str, Any]:
    from torchstudio.worker import UserError

    ctx.progress(0.0, "running pip")
    lines = 0

    def relay(line: str) -> None:
        nonlocal lines
        lines += 1
        ctx.send("output", line)
        if line.startswith(PROGRESS_PREFIXES):
            ctx.progress(0.0, line)

    try:
        command = install(InstallRequest.from_json(value), relay)
    except InstallError as exc:
        raise UserError(str(exc)) from None
    ctx.progress(1.0, "installed")
    return {"command": command, "lines": lines}


def run_command(text: str) -> int:
    """The `--json` mode: one install, pip's lines on stderr; the exit status says how it went."""

    def stop(number: int, _: object) -> None:
        raise SystemExit(128 + number)

    signal.signal(signal.SIGTERM, stop)
    try:
        install(
            InstallRequest.from_json(json.loads(text)), lambda line: print(line, file=sys.stderr)
        )
    except (InstallError, ValueError, TypeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def main() -> None:
    if sys.argv[1:2] == ["--json"] and len(sys.argv) == 3:
        raise SystemExit(run_command(sys.argv[2]))
    from torchstudio.worker import Handlers, run_worker

    handlers = Handlers()
    handlers.add("install", install_handler, background=True)
    raise SystemExit(run_worker(handlers, "pythoninstall"))


if __name__ == "__main__":
    main()
