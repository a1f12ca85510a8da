"""Debian's Chromium driven by Playwright: the browser fixtures every UI test uses."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

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
VIEWPORT = {"width": 1600, "height": 1100}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM) or shutil.which("chromium") is None:
        pytest.skip("Debian's chromium is not installed (make test installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()


@pytest.fixture
def shot(page: Any, request: pytest.FixtureRequest) -> Callable[[str], None]:
    """shot('name') saves a screenshot under test-artifacts/e2e/<test>-NN-name.png."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    count = [0]

    def take(name: str) -> None:
        count[0] += 1
        page.screenshot(
            path=str(ARTIFACTS / f"{request.node.name}-{count[0]:02d}-{name}.png"), full_page=True
        )

    return take


def card_shot(page: Any, title: str, name: str) -> None:
    """The card titled `title` alone, for the docs (the page's fixed bars hidden), saved as
    test-artifacts/e2e/card-NAME.png."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.add_style_tag(content=".q-header, .q-footer { display: none !important; }")
    card = page.locator(".q-card").filter(has=page.get_by_text(title, exact=True)).last
    card.screenshot(path=str(ARTIFACTS / f"card-{name}.png"))
