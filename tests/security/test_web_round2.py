"""Attacks on the running app, round 2: a foreign cookie, framing, odd tokens, exports.

One real `torchstudio` server for the module, raw HTTP requests (http.client).
- A cookie another page of 127.0.0.1 set, which the standard library cannot parse
  (`theme=dark mode`), must not lock the user out.
- Every answer (pages, static files, API routes, refusals) forbids framing by another
  origin: a page on another port of 127.0.0.1 is same-site and would get the cookie.
- A token or cookie with non-ASCII text is refused with a 403, not a 500.
- Exporting a model the project does not have answers 404.
"""

from __future__ import annotations

import nicegui
import pytest

from torchstudio.app.web.auth import cookie_values

pytestmark = pytest.mark.timeout(240)

STATIC = f"/_nicegui/{nicegui.__version__}/static/nicegui.js"


@pytest.fixture(scope="module")
def cookie(server) -> str:
    return server.token_cookie()[0]


FOREIGN = ["theme=dark mode", 'a="unclosed', "weird;;=;", "x=1; y", "name with space=1"]


@pytest.mark.parametrize("foreign", FOREIGN)
def test_a_foreign_cookie_does_not_lock_the_user_out(server, cookie, foreign):
    for cookies in (f"{foreign}; {cookie}", f"{cookie}; {foreign}"):
        assert server.request("GET", STATIC, {"Cookie": cookies})[0] == 200, cookies
    # A fresh tab opened with ?token= works as well, and still gets its cookie.
    status, headers, _ = server.request("GET", f"/?token={server.token}", {"Cookie": f"{foreign}"})
    assert status == 200 and headers.get_all("set-cookie")
    # The foreign cookie does not let anyone in without ours.
    assert server.request("GET", STATIC, {"Cookie": foreign})[0] == 403


def test_cookie_pairs_are_read_one_by_one():
    header = 'theme=dark mode; t="abc"; t=def; other=1'
    assert cookie_values(header, "t") == ["abc", "def"]
    assert cookie_values(header, "theme") == ["dark mode"]
    assert cookie_values("no pairs at all", "t") == []


def frame_protected(headers) -> bool:
    policy = headers.get("content-security-policy") or ""
    return "frame-ancestors 'self'" in policy and headers.get("x-frame-options") in (
        "DENY",
        "SAMEORIGIN",
    )


def test_every_answer_forbids_framing_by_other_origins(server, cookie):
    answers = {
        "page": server.request("GET", "/", {"Cookie": cookie}),
        "token url": server.request("GET", f"/?token={server.token}"),
        "static file": server.request("GET", STATIC, {"Cookie": cookie}),
        "api 404": server.request("GET", "/api/dataset/analysis.png", {"Cookie": cookie}),
        "refusal": server.request("GET", "/"),
        "bad host": server.request("GET", "/", {"Host": "evil.example", "Cookie": cookie}),
    }
    for what, (status, headers, _) in answers.items():
        assert frame_protected(headers), f"{what} ({status}) can be framed: {dict(headers)}"


@pytest.mark.parametrize("value", ["tökén", "\u2603" * 48, "токен"])
def test_non_ascii_tokens_are_refused_not_crashed(server, value):
    from urllib.parse import quote

    assert server.request("GET", f"/?token={quote(value)}")[0] == 403
    cookie = f"torchstudio_token_{server.port}={value}".encode().decode("latin-1")
    assert server.request("GET", STATIC, {"Cookie": cookie})[0] == 403
    header = {"X-TorchStudio-Token": value.encode().decode("latin-1")}
    assert server.request("POST", "/api/model/graph.svg", header)[0] == 403


def test_export_of_an_unknown_model_is_404(server, cookie):
    for name in ("no such model", "../../../../tmp/x/evil"):
        status, _, body = server.request(
            "GET", f"/api/model/export?name={name.replace(' ', '%20')}&fmt=pt", {"Cookie": cookie}
        )
        assert status == 404, body
        assert b"no model named" in body


def test_a_negative_sample_index_is_refused(server, cookie):
    for path in ("/api/dataset/sample/train/-1/0.png", "/api/dataset/sample/valid/0/-1.png"):
        status, _, body = server.request("GET", path, {"Cookie": cookie})
        assert status == 400 and b"start at 0" in body, (path, status, body)


def test_image_routes_refuse_what_they_cannot_draw(server, cookie):
    refused = {
        "/api/dataset/sample/test/0/0.png": b"bad split",
        "/api/dataset/sample/train/0/0.png?w=0": b"bad split or size",
        "/api/dataset/sample/train/0/0.png?h=5000": b"bad split or size",
        "/api/dataset/draw/other/0/0/0.png": b"bad split",
        "/api/dataset/draw/train/0/0/0.png?w=99999": b"bad split or size",
        "/api/dataset/draw/train/0/0/-1.png": b"start at 0",
        "/api/dataset/draw/train/-3/0/0.png": b"start at 0",
    }
    for path, reason in refused.items():
        status, _, body = server.request("GET", path, {"Cookie": cookie})
        assert status == 400 and reason in body, (path, status, body)
