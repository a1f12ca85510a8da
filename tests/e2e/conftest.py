"""A real `torchstudio` server on a demo project, for the flows a user goes through."""

import pytest
from tests.helpers.browser import browser, page, shot  # noqa: F401
from tests.helpers.server import new_project, start_server


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("e2e")
    home = folder / "home"
    server = start_server(new_project(folder / "demo.tsproj", home), home)
    yield server
    server.stop()
