"""Fixtures for every test, and the tiers: each test is marked by what it needs.

`browser` (Chromium), `sshd` (the real OpenSSH server), `fault` (kills processes, fills
disks) and `slow` (over about 20 s) are given here from the fixtures a test uses and the
folder it lives in, so no file can forget them; `make test-quick` leaves all four out.
"""

import os
import sys
from pathlib import Path

import pytest

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
WORKERS_DIR = os.path.join(TESTS_DIR, "workers")


@pytest.fixture
def worker_env() -> dict[str, str]:
    """Environment that lets `python -m crashworker` find the test workers."""
    paths = [WORKERS_DIR, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {"PYTHONPATH": os.pathsep.join(paths)}


sys.path.insert(0, WORKERS_DIR)


@pytest.fixture
async def studio(tmp_path):
    """A real studio on a new demo project with its dataset loaded."""
    from tests.helpers.studios import demo_studio

    async with demo_studio(tmp_path) as studio:
        yield studio


# Fixtures every folder may use: Chromium (browser, page, shot) and the real server (server).
pytest_plugins = ["tests.helpers.browser", "tests.helpers.server"]

BROWSER_FIXTURES = {"browser", "page"}
FAULT_FOLDERS = {"fault"}


# First, so that xdist's own hook (which turns xdist_group into the node id) sees the marks.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        folder = Path(str(item.path)).parent.name
        if fixtures & BROWSER_FIXTURES or folder == "e2e":
            item.add_marker(pytest.mark.browser)
        if "sshd" in fixtures or folder == "remote" and "servers" in fixtures:
            item.add_marker(pytest.mark.sshd)
            # One OpenSSH server (and one test user) for them all: one xdist process runs them.
            item.add_marker(pytest.mark.xdist_group("sshd"))
        elif "server" in fixtures:
            # A module shares one app server: its tests run in one process, in order.
            item.add_marker(pytest.mark.xdist_group(f"server:{item.path.stem}"))
        if folder in FAULT_FOLDERS:
            item.add_marker(pytest.mark.fault)
