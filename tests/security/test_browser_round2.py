"""Round 2 attacks in a real browser (Chromium) against a real server.

- The project is edited by another process while the page is open: Load refuses, and the
  banner comes back listing the code; nothing ran.
- A page served from another port of 127.0.0.1 frames the app (to trick clicks on Trust or
  Start all): Chromium refuses to show it in the frame.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import sqlite3
import threading

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from tests.helpers.server import new_project, start_server

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

EVIL = "import pathlib\npathlib.Path({marker!r}).write_text('ran')\ntrain = valid = []\n"


@pytest.fixture
def server(tmp_path):
    project = new_project(tmp_path / "mine.tsproj", tmp_path / "home")
    running = start_server(project, tmp_path / "home")
    yield running
    running.stop()


def test_an_outside_edit_brings_the_banner_back_and_nothing_runs(server, page, tmp_path):
    page.goto(server.url)
    page.get_by_role("button", name="Load").wait_for()
    assert page.locator(".ts-trust-banner").count() == 0  # made here: trusted
    marker = tmp_path / "ran"
    project = next(tmp_path.glob("*.tsproj"))
    with sqlite3.connect(project) as db:  # another process's write
        (text,) = db.execute("SELECT value FROM documents WHERE name = 'dataset'").fetchone()
        document = {**json.loads(text), "code": EVIL.format(marker=str(marker))}
        db.execute("UPDATE documents SET value = ? WHERE name = 'dataset'", (json.dumps(document),))

    page.get_by_role("button", name="Load").click()
    banner = page.locator(".ts-trust-banner")
    banner.wait_for()
    assert "document dataset: code" in page.locator(".ts-trust-parts").inner_text()
    trusted = json.loads((tmp_path / "home" / "trusted.json").read_text())
    assert trusted[str(project.resolve())]  # still the fingerprint of what was trusted...
    page.get_by_role("button", name="Load").click()
    page.locator(".ts-load-error").get_by_text("changed outside the app").wait_for()
    assert not marker.exists()


class AttackerPage(http.server.BaseHTTPRequestHandler):
    target = ""

    def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
        body = f'<html><body><iframe id="app" src="{self.target}" width="800" height="600">'
        body += "</iframe></body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: object) -> None:
        pass


def test_another_port_cannot_frame_the_app(server, page):
    AttackerPage.target = server.url
    attacker = http.server.ThreadingHTTPServer(("127.0.0.1", 0), AttackerPage)
    threading.Thread(target=attacker.serve_forever, daemon=True).start()
    try:
        refused = []
        page.on("console", lambda message: refused.append(message.text))
        page.goto(f"http://127.0.0.1:{attacker.server_address[1]}/")
        page.locator("#app").wait_for()
        # Console messages come in as Playwright handles events: wait_for_event lets it.
        with contextlib.suppress(PlaywrightTimeout):
            while not any("frame" in m for m in refused):
                page.wait_for_event("console", timeout=20_000)
        frame = page.frame_locator("#app")
        assert frame.get_by_role("button", name="Load").count() == 0
        assert any("frame-ancestors" in m or "X-Frame-Options" in m for m in refused), refused
    finally:
        attacker.shutdown()
