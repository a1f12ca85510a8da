"""A real `torchstudio` server subprocess and raw HTTP requests to attack it.

Servers run with their own TORCHSTUDIO_HOME (the trust list, recent projects), started
and read as tests/e2e/conftest.py does.
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
from dataclasses import dataclass, field
from pathlib import Path

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
    output: list[str] = field(default_factory=list)  # everything it printed so far

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

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=15)


def server_env(home: Path) -> dict[str, str]:
    env = {**os.environ, "TORCHSTUDIO_HOME": str(home), "TORCHSTUDIO_CACHE": str(home / "cache")}
    # NiceGUI takes a server started under pytest for its own screen tests: not this one.
    env.pop("PYTEST_CURRENT_TEST", None)
    env.pop("TORCHSTUDIO_PASSWORD", None)
    return env


def new_project(path: Path, home: Path, *files: str) -> Path:
    """`torchstudio new` on this "machine" (`home`): the demo, or --dataset FILE."""
    options = ["--dataset", files[0]] if files else ["--demo"]
    subprocess.run([TORCHSTUDIO, "new", *options, str(path)], check=True, env=server_env(home))
    return path


def start_server(project: Path, home: Path, *options: str, env: dict[str, str] | None = None):
    """Start `torchstudio PROJECT --no-browser OPTIONS` and wait for its URL line."""
    process = subprocess.Popen(
        [TORCHSTUDIO, str(project), "--no-browser", *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**server_env(home), **(env or {})},
    )
    lines: queue.Queue[str | None] = queue.Queue()
    output: list[str] = []

    def drain() -> None:  # keep reading, so a full pipe never blocks the server
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)
            lines.put(line)
        lines.put(None)

    threading.Thread(target=drain, daemon=True).start()
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=1)
        except queue.Empty:
            continue
        if line is None:
            break
        found = URL.search(line)
        if found and "running at" not in line:
            server = Server(process, found.group(1), int(found.group(2)), found.group(4), home)
            server.output = output
            return server
    process.kill()
    raise AssertionError("the server printed no URL:\n" + "".join(output))
