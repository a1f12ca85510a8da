"""Listening beyond loopback: refused without access checks; with a password, a login page."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from tests.helpers.server import new_project, run_torchstudio, start_server

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    folder = tmp_path_factory.mktemp("exposure")
    return new_project(folder / "demo.tsproj", folder / "home")


def run_cli(project, *options: str, env: dict[str, str] | None = None):
    return run_torchstudio(
        str(project), "--no-browser", *options, home=project.parent / "home", env=env
    )


def test_all_interfaces_without_the_token_is_refused(project):
    result = run_cli(project, "--host", "0.0.0.0", "--no-token")
    assert result.returncode == 2
    assert "refusing to listen on '0.0.0.0' with the access token disabled" in result.stderr


def test_a_short_password_is_refused(project):
    result = run_cli(project, "--password", env={"TORCHSTUDIO_PASSWORD": "short"})
    assert result.returncode == 2
    assert "at least 8 characters" in result.stderr


@pytest.mark.slow
def test_password_login_on_all_interfaces(project):
    server = start_server(
        project,
        project.parent / "home",
        "--host",
        "0.0.0.0",
        "--password",
        "--allow-host",
        "studio.lan",
        env={"TORCHSTUDIO_PASSWORD": PASSWORD},
    )
    try:
        printed = "".join(server.output)
        assert "WARNING: TorchStudio listens on 0.0.0.0" in printed
        assert server.token is None and PASSWORD not in printed
        own = {"Origin": f"http://127.0.0.1:{server.port}"}
        form = {**own, "Content-Type": "application/x-www-form-urlencoded"}

        status, headers, _ = server.request("GET", "/")
        assert status == 303 and headers["location"] == "/login"
        status, _, body = server.request("GET", "/login")
        assert status == 200 and b'type="password"' in body

        wrong = urlencode({"password": "not the password"}).encode()
        status, headers, body = server.request("POST", "/login", form, wrong)
        assert status == 403 and b"Wrong password" in body
        mine = f"torchstudio_token_{server.port}="
        assert not any(c.startswith(mine) for c in headers.get_all("set-cookie") or [])
        # A login forged by another site is refused before the password is even read.
        right = urlencode({"password": PASSWORD}).encode()
        forged = {**form, "Origin": "http://evil.example"}
        assert server.request("POST", "/login", forged, right)[0] == 403

        status, headers, _ = server.request("POST", "/login", form, right)
        assert status == 303 and headers["location"] == "/"
        cookie = next(c for c in headers.get_all("set-cookie") if c.startswith(mine))
        cookie = cookie.split(";")[0]
        assert server.request("GET", "/", {"Cookie": cookie})[0] == 200
        # --allow-host adds a name; others are still refused.
        assert server.request("GET", "/", {"Cookie": cookie, "Host": "studio.lan"})[0] == 200
        assert server.request("GET", "/", {"Cookie": cookie, "Host": "evil.example"})[0] == 403
    finally:
        server.stop()
