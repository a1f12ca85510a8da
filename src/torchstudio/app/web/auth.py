"""The guard in front of every request, as Jupyter Server does it.

One pure ASGI middleware, so NiceGUI's pages, static files, /_nicegui/ routes, socket.io
(polling and WebSocket) and the app's /api/ routes all pass through it. In order:

1. Host: the Host header must name an allowed host (DNS rebinding).
2. Origin: a WebSocket from a browser must come from the app's own origin; a
   state-changing request (POST, PUT, PATCH, DELETE) must show the app's own Origin (or
   Referer), or carry the token in the X-TorchStudio-Token header (CSRF). The /api/ GET
   routes refuse requests a browser marks as coming from another site.
3. Access: the token (in the URL once, then an HttpOnly SameSite=Strict cookie), or the
   password typed on the login page, which sets the same cookie.

Every refusal is a 403 whose text says what was refused and why.
"""

from __future__ import annotations

import asyncio
import hmac
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from torchstudio.app.web import login
from torchstudio.app.web.origins import LOOPBACK_NAMES, host_name, same_origin

COOKIE = "torchstudio_token"
TOKEN_HEADER = b"x-torchstudio-token"
STATE_CHANGING = ("POST", "PUT", "PATCH", "DELETE")
SOCKET_IO = "/_nicegui_ws/"
Scope = dict[str, Any]

# No page of another origin may frame the app and lure clicks onto its buttons (Trust,
# Start all): a page on another port of 127.0.0.1 is same-site and gets the strict cookie.
FRAME_HEADERS = [
    (b"content-security-policy", b"frame-ancestors 'self'"),
    (b"x-frame-options", b"SAMEORIGIN"),
]

REFUSED = (
    "TorchStudio: access refused. Open the URL printed by the `torchstudio` command: "
    "it carries the access token (?token=...).\n"
)


@dataclass(frozen=True)
class AccessPolicy:
    """What the guard lets in. `token` also signs the login cookie; None disables access checks."""

    token: str | None
    allowed_hosts: frozenset[str] = frozenset(LOOPBACK_NAMES)
    password_hash: bytes | None = None
    cookie: str = COOKIE


def header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


def cookie_values(cookie_header: str, name: str) -> list[str]:
    """Every value the Cookie header gives `name`, read pair by pair.

    Lenient on purpose: a cookie another page of this host set (`theme=dark mode`, with a
    space) must not hide ours, as it does from the standard library's strict parser.
    """
    values = []
    for pair in cookie_header.split(";"):
        key, equals, value = pair.partition("=")
        if equals and key.strip() == name:
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            values.append(value)
    return values


def request_token(scope: Scope, cookie_name: str = COOKIE) -> tuple[str | None, list[str]]:
    """(token from the query string, tokens from the cookies) of an HTTP/WebSocket request."""
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    from_query = query.get("token", [None])[0]
    cookie_header = "; ".join(
        value.decode("latin-1") for name, value in scope.get("headers", []) if name == b"cookie"
    )
    return from_query, cookie_values(cookie_header, cookie_name)


def host_refusal(scope: Scope, policy: AccessPolicy) -> str | None:
    """Why the Host header is refused, or None."""
    value = header(scope, b"host")
    if value is None:
        return "TorchStudio: a request without a Host header is refused.\n"
    if host_name(value) in policy.allowed_hosts:
        return None
    return (
        f"TorchStudio: the host {value!r} is not one this app answers to (a guard against "
        f"DNS rebinding). Open it as localhost or 127.0.0.1, or start it with "
        f"--allow-host {host_name(value)} if that name is really this machine.\n"
    )


def origin_refusal(scope: Scope, policy: AccessPolicy) -> str | None:
    """Why the request is refused as cross-site (WebSocket origin, CSRF), or None."""
    host = header(scope, b"host") or ""
    origin = header(scope, b"origin")
    if scope["type"] == "websocket" or scope.get("path", "").startswith(SOCKET_IO):
        # Browsers always send Origin on a WebSocket (and on socket.io's polling, which the
        # library would answer with CORS headers for any origin); a client without one is
        # no browser and still needs the token.
        if origin is None or same_origin(origin, host):
            return None
        return (
            f"TorchStudio: a WebSocket or socket.io connection from the foreign origin "
            f"{origin!r} is refused.\n"
        )
    method = scope.get("method", "GET")
    if method in STATE_CHANGING:
        if origin is not None:
            if same_origin(origin, host):
                return None
            return (
                f"TorchStudio: a {method} from the foreign origin {origin!r} is refused (CSRF).\n"
            )
        referer = header(scope, b"referer")
        if referer is not None and same_origin(origin_of(referer), host):
            return None
        sent = header(scope, TOKEN_HEADER)
        if policy.token is not None and sent is not None and _equal(sent, policy.token):
            return None
        return (
            f"TorchStudio: a {method} without the app's Origin or the X-TorchStudio-Token "
            "header is refused (CSRF).\n"
        )
    site = header(scope, b"sec-fetch-site")
    if scope.get("path", "").startswith("/api/") and site in ("cross-site", "same-site"):
        return "TorchStudio: the /api/ routes refuse requests from other sites.\n"
    return None


def origin_of(url: str) -> str:
    """scheme://host[:port] of a URL (a Referer)."""
    try:
        parts = urlsplit(url)
    except ValueError:  # a malformed URL (bad brackets) is no origin
        return ""
    return f"{parts.scheme}://{parts.netloc}"


def _equal(candidate: str | None, token: str) -> bool:
    # Bytes: compare_digest refuses str holding anything but ASCII (a forged cookie could).
    return candidate is not None and hmac.compare_digest(
        candidate.encode("utf-8", "surrogateescape"), token.encode("utf-8", "surrogateescape")
    )


class TokenMiddleware:
    """Applies the `AccessPolicy` to every HTTP request and WebSocket connection."""

    def __init__(self, app: Any, token: str | None = None, policy: AccessPolicy | None = None):
        self.app = app
        self.policy = policy or AccessPolicy(token)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "http":
            send = with_headers(send, FRAME_HEADERS)  # every answer, refusals too
        policy = self.policy
        refusal = host_refusal(scope, policy) or origin_refusal(scope, policy)
        if refusal is not None:
            await refuse(scope, send, refusal)
            return
        if policy.token is None:  # access checks disabled (loopback only, see the CLI)
            await self.app(scope, receive, send)
            return
        if policy.password_hash is not None and scope.get("path") == login.LOGIN_PATH:
            await self._login(scope, receive, send)
            return
        from_query, from_cookies = request_token(scope, policy.cookie)
        if any(_equal(value, policy.token) for value in from_cookies) or (
            scope["type"] == "websocket" and _equal(from_query, policy.token)
        ):
            await self.app(scope, receive, send)
            return
        if _equal(from_query, policy.token):
            await self.app(scope, receive, self._with_cookie(send))
            return
        if policy.password_hash is not None and scope["type"] == "http" and from_query is None:
            await respond(send, 303, b"", [(b"location", login.LOGIN_PATH.encode())])
            return
        await refuse(scope, send, REFUSED)

    def _cookie_header(self) -> tuple[bytes, bytes]:
        value = f"{self.policy.cookie}={self.policy.token}; Path=/; HttpOnly; SameSite=Strict"
        return b"set-cookie", value.encode()

    def _with_cookie(self, send: Any) -> Any:
        return with_headers(send, [self._cookie_header()])

    async def _login(self, scope: Scope, receive: Any, send: Any) -> None:
        html = [(b"content-type", b"text/html; charset=utf-8")]
        if scope["type"] != "http" or scope.get("method") not in ("GET", "POST"):
            await refuse(scope, send, "TorchStudio: /login takes GET and POST only.\n")
            return
        if scope["method"] == "GET":
            await respond(send, 200, login.login_page(), html)
            return
        body = await read_body(receive, login.MAX_FORM)
        fields = parse_qs(body.decode("utf-8", "replace")) if body is not None else {}
        password = fields.get("password", [""])[0]
        hashed = self.policy.password_hash or b""
        # bcrypt is slow on purpose (against guessing): keep it off the event loop.
        if not await asyncio.to_thread(login.check_password, password, hashed):
            await respond(send, 403, login.login_page("Wrong password."), html)
            return
        await respond(send, 303, b"", [(b"location", b"/"), self._cookie_header()])


def with_headers(send: Any, extra: list[tuple[bytes, bytes]]) -> Any:
    """`send` adding `extra` headers to the response's start."""

    async def send_with_headers(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *extra]}
        await send(message)

    return send_with_headers


async def read_body(receive: Any, limit: int) -> bytes | None:
    """The request body, or None when it is longer than `limit` bytes."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if len(body) > limit:
            return None
        if not message.get("more_body"):
            return body


async def respond(send: Any, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def refuse(scope: Scope, send: Any, text: str) -> None:
    """403 with `text`; a WebSocket is closed before it opens (the client sees a 403)."""
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008, "reason": text.strip()[:120]})
        return
    await respond(send, 403, text.encode(), [(b"content-type", b"text/plain; charset=utf-8")])
