"""Attacks on the running app's access checks: token, Host (DNS rebinding), Origin, CSRF.

One real `torchstudio` server for the module; every request is raw HTTP (http.client) or a
raw WebSocket (the `websockets` client), so nothing of a browser's goodwill is assumed.
"""

from __future__ import annotations

import asyncio

import nicegui
import pytest
import websockets

STATIC = f"/_nicegui/{nicegui.__version__}/static/nicegui.js"
POLLING = "/_nicegui_ws/socket.io/?EIO=4&transport=polling"
WEBSOCKET = "/_nicegui_ws/socket.io/?EIO=4&transport=websocket"


@pytest.fixture(scope="module")
def cookie(server) -> str:
    """The cookie the token URL sets (checked to be HttpOnly and SameSite=Strict)."""
    cookie, set_cookie = server.token_cookie()
    assert "HttpOnly" in set_cookie and "SameSite=Strict" in set_cookie
    return cookie


def own(server) -> dict[str, str]:
    return {"Host": f"127.0.0.1:{server.port}", "Origin": f"http://127.0.0.1:{server.port}"}


@pytest.mark.parametrize("path", ["/", STATIC, "/_nicegui/auto/static/x.js", POLLING])
def test_no_token_is_refused_everywhere(server, path):
    status, _, body = server.request("GET", path)
    assert status == 403
    assert b"access token" in body


def test_wrong_token_and_wrong_cookie_are_refused(server):
    assert server.request("GET", "/?token=wrong")[0] == 403
    cookie = {"Cookie": f"torchstudio_token_{server.port}=wrong"}
    assert server.request("GET", STATIC, cookie)[0] == 403
    # Another app's cookie name (another port) is not this app's cookie.
    other = {"Cookie": f"torchstudio_token_1={server.token}"}
    assert server.request("GET", STATIC, other)[0] == 403


def test_the_cookie_opens_static_files_and_socket_io(server, cookie):
    assert server.request("GET", STATIC, {"Cookie": cookie})[0] == 200
    status, _, body = server.request("GET", POLLING, {"Cookie": cookie, **own(server)})
    assert status == 200 and b'"sid"' in body


def test_forged_host_header_is_refused(server, cookie):
    for host in ("evil.example:80", f"rebind.attacker.test:{server.port}"):
        status, _, body = server.request("GET", f"/?token={server.token}", {"Host": host})
        assert status == 403
        assert b"DNS rebinding" in body and host.split(":")[0].encode() in body
    # The allowed names still work.
    for host in (f"localhost:{server.port}", f"127.0.0.1:{server.port}"):
        assert server.request("GET", STATIC, {"Host": host, "Cookie": cookie})[0] == 200


async def _websocket(server, headers: dict[str, str]) -> str:
    url = f"ws://127.0.0.1:{server.port}{WEBSOCKET}"
    async with websockets.connect(url, additional_headers=headers, open_timeout=30) as ws:
        return str(await asyncio.wait_for(ws.recv(), 30))


def test_websocket_needs_the_cookie_and_the_own_origin(server, cookie):
    origin = {"Origin": f"http://127.0.0.1:{server.port}"}
    with pytest.raises(websockets.InvalidStatus) as refused:
        asyncio.run(_websocket(server, origin))  # no cookie
    assert refused.value.response.status_code == 403
    for foreign in ("http://evil.example", f"http://localhost:{server.port + 1}", "null"):
        with pytest.raises(websockets.InvalidStatus) as refused:
            asyncio.run(_websocket(server, {"Cookie": cookie, "Origin": foreign}))
        assert refused.value.response.status_code == 403
    assert asyncio.run(_websocket(server, {"Cookie": cookie, **origin})).startswith("0{")


def test_socket_io_polling_from_a_foreign_origin_is_refused(server, cookie):
    headers = {"Cookie": cookie, "Origin": "http://evil.example"}
    status, _, body = server.request("GET", POLLING, headers)
    assert status == 403 and b"foreign origin" in body


def test_cross_site_posts_are_refused(server, cookie):
    """CSRF: even with the cookie (a browser without SameSite), a foreign POST is refused."""
    form = {"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"}
    status, _, body = server.request(
        "POST", POLLING, {**form, "Origin": "http://evil.example"}, b"x"
    )
    assert status == 403 and b"foreign origin" in body
    for path in ("/", "/api/model/export?name=x&fmt=pt"):
        status, _, body = server.request("POST", path, {**form, "Origin": "http://evil.example"})
        assert status == 403 and b"CSRF" in body
        status, _, body = server.request("POST", path, form)  # neither Origin nor Referer
        assert status == 403 and b"X-TorchStudio-Token" in body
        referer = {**form, "Referer": "http://evil.example/page"}
        assert server.request("POST", path, referer)[0] == 403
    for malformed in ("http://[bad", "null", "file://"):
        assert server.request("POST", "/", {**form, "Origin": malformed})[0] == 403
    # The app's own origin, or the token in the header, pass the guard (FastAPI answers).
    mine = {**form, "Origin": f"http://127.0.0.1:{server.port}"}
    assert server.request("POST", "/api/model/graph.svg", mine)[0] == 405
    header = {**form, "X-TorchStudio-Token": server.token}
    assert server.request("POST", "/api/model/graph.svg", header)[0] == 405


def test_api_routes_refuse_other_sites(server, cookie):
    for site in ("cross-site", "same-site"):
        headers = {"Cookie": cookie, "Sec-Fetch-Site": site}
        status, _, body = server.request("GET", "/api/model/export?name=x&fmt=pt", headers)
        assert status == 403 and b"other sites" in body
    same = {"Cookie": cookie, "Sec-Fetch-Site": "same-origin"}
    assert server.request("GET", "/api/dataset/analysis.png", same)[0] == 404
