"""A real `torchstudio` server on a demo project, and Debian's Chromium driven by Playwright."""

import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "e2e"
TORCHSTUDIO = str(Path(sys.executable).with_name("torchstudio"))


class Server:
    def __init__(self, process: subprocess.Popen, url: str, project: Path) -> None:
        self.process = process
        self.url = url
        self.project = project
        self.base = url.split("/?")[0]
        self.token = url.split("token=")[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("e2e")
    env = {
        **os.environ,
        "TORCHSTUDIO_HOME": str(folder / "home"),
        "TORCHSTUDIO_CACHE": str(folder / "cache"),
    }
    # NiceGUI takes a server started under pytest for its own screen tests: not this one.
    env.pop("PYTEST_CURRENT_TEST", None)
    project = folder / "demo.tsproj"
    subprocess.run([TORCHSTUDIO, "new", "--demo", str(project)], check=True, env=env)
    process = subprocess.Popen(
        [TORCHSTUDIO, str(project), "--no-browser"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    url = None
    for line in process.stdout:
        found = re.search(r"(http://\S+\?token=\S+)", line)
        if found:
            url = found.group(1)
            break
    assert url, "the server printed no URL"
    # Keep reading what the server prints, so a full pipe can never block it.
    threading.Thread(target=lambda: [None for _ in process.stdout], daemon=True).start()
    yield Server(process, url, project)
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM) or shutil.which("chromium") is None:
        pytest.skip("Debian's chromium is not installed (make test installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1600, "height": 1100})
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()


@pytest.fixture
def shot(page, request):
    """shot('name') saves a screenshot under test-artifacts/e2e/<test>-NN-name.png."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    count = [0]

    def take(name: str) -> None:
        count[0] += 1
        page.screenshot(
            path=str(ARTIFACTS / f"{request.node.name}-{count[0]:02d}-{name}.png"), full_page=True
        )

    return take
