"""The real `torchstudio` server as a subprocess, started one way for every test that needs it.

A server runs with its own TORCHSTUDIO_HOME (the trust list, recent projects, servers), prints
its URL, and keeps its output read so a full pipe never blocks it. `request` sends one raw HTTP
request, without any cookie unless given: what an attacker's client does.
"""

from __future__ import annotations

import http.client
import os
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

TORCHSTUDIO = str(Path(sys.executable).with_name("torchstudio"))
URL = re.compile(r"(http://\S+?:(\d+)/)(\?token=(\S+))?")
START_TIMEOUT = 120


@dataclass
class Server:
    process: subprocess.Popen[str]
    base: str  # http://127.0.0.1:PORT/
    port: int
    token: str | None
    home: Path
    project: Path | None = None
    output: list[str] = field(default_factory=list)  # everything it printed so far
    drained: threading.Event = field(default_factory=threading.Event)  # set at its output's end

    @property
    def url(self) -> str:
        return f"{self.base}?token={self.token}"

    def request(
        self,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> tuple[int, http.client.HTTPMessage, bytes]:
        """One raw HTTP request; (status, headers, body). No cookie unless given."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return response.status, response.msg, response.read()
        finally:
            connection.close()

    def token_cookie(self) -> tuple[str, str]:
        """(name=value, the whole Set-Cookie line) of the cookie the token URL sets."""
        status, headers, _ = self.request("GET", f"/?token={self.token}")
        assert status == 200, status
        mine = f"torchstudio_token_{self.port}="
        line = next(c for c in headers.get_all("set-cookie") or [] if c.startswith(mine))
        return line.split(";")[0], line

    def stop(self) -> None:
        """End it; `output` then holds everything it printed."""
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=15)
        self.drained.wait(timeout=15)


def server_env(home: Path) -> dict[str, str]:
    env = {**os.environ, "TORCHSTUDIO_HOME": str(home), "TORCHSTUDIO_CACHE": str(home / "cache")}
    # NiceGUI takes a server started under pytest for its own screen tests: not this one.
    env.pop("PYTEST_CURRENT_TEST", None)
    env.pop("TORCHSTUDIO_PASSWORD", None)
    return env


def run_torchstudio(
    *arguments: str, home: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`torchstudio ARGUMENTS` to its end, on this "machine" (`home`); its output captured."""
    return subprocess.run(
        [TORCHSTUDIO, *arguments],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**server_env(home), **(env or {})},
    )


def new_project(path: Path, home: Path, *files: str) -> Path:
    """`torchstudio new` on this "machine" (`home`): the demo, or --dataset FILE."""
    options = ["--dataset", files[0]] if files else ["--demo"]
    made = run_torchstudio("new", *options, str(path), home=home)
    assert made.returncode == 0, made.stderr
    return path


def serves_page(port: int) -> bytes | None:
    """The app's page at `port` when it answers 200; None while nothing answers."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", "/")
        response = connection.getresponse()
        return response.read() if response.status == 200 else None
    except OSError:
        return None
    finally:
        connection.close()


def start_server(
    project: Path, home: Path, *options: str, env: dict[str, str] | None = None
) -> Server:
    """Start `torchstudio PROJECT --no-browser OPTIONS` and wait for its URL line."""
    return start_process(
        [TORCHSTUDIO, str(project), "--no-browser", *options], home, env=env, project=project
    )


def start_process(
    command: list[str],
    home: Path,
    *,
    env: dict[str, str] | None = None,
    project: Path | None = None,
) -> Server:
    """Start `command`, a program that serves the app and prints its URL, and wait for the URL."""
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**server_env(home), **(env or {})},
    )
    lines: queue.Queue[str | None] = queue.Queue()
    output: list[str] = []
    drained = threading.Event()

    def drain() -> None:  # keep reading, so a full pipe never blocks the server
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)
            lines.put(line)
        lines.put(None)
        drained.set()

    threading.Thread(target=drain, daemon=True).start()
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=deadline - time.monotonic())
        except queue.Empty:
            break
        if line is None:
            break
        found = URL.search(line)
        if found and "running at" not in line:
            port = int(found.group(2))
            return Server(
                process, found.group(1), port, found.group(4), home, project, output, drained
            )
    process.kill()
    raise AssertionError(f"{command[-1]!r} printed no URL:\n" + "".join(output))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A real server on a new demo project, shared by one test module."""
    folder = tmp_path_factory.mktemp("server")
    home = folder / "home"
    running = start_server(new_project(folder / "demo.tsproj", home), home)
    yield running
    running.stop()
