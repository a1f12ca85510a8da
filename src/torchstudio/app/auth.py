"""Access token for the app, as Jupyter does: other local users must not drive it.

The URL printed at start carries `?token=...`; the first visit with it sets a cookie, so
later requests (pages, images, the WebSocket) need no token in their URL. Anything else is
refused with 403. A pure ASGI middleware, so WebSocket connections are checked too.
"""

from __future__ import annotations

import hmac
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs

COOKIE = "torchstudio_token"
Scope = dict[str, Any]

REFUSED = (
    b"TorchStudio: access refused. Open the URL printed by the `torchstudio` command: "
    b"it carries the access token (?token=...).\n"
)


def request_token(scope: Scope) -> tuple[str | None, str | None]:
    """(token from the query string, token from the cookie) of an HTTP/WebSocket request."""
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    from_query = query.get("token", [None])[0]
    cookie_header = b""
    for name, value in scope.get("headers", []):
        if name == b"cookie":
            cookie_header += value + b"; "
    cookies = SimpleCookie()
    try:
        cookies.load(cookie_header.decode("latin-1"))
    except Exception:  # a malformed cookie header is a request without the cookie
        return from_query, None
    morsel = cookies.get(COOKIE)
    return from_query, morsel.value if morsel else None


class TokenMiddleware:
    """Refuses every request that shows neither the token nor the cookie set from it."""

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self.token = token

    def _valid(self, candidate: str | None) -> bool:
        return candidate is not None and hmac.compare_digest(
            candidate.encode(), self.token.encode()
        )

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        from_query, from_cookie = request_token(scope)
        if self._valid(from_cookie):
            await self.app(scope, receive, send)
            return
        if not self._valid(from_query):
            await self._refuse(scope, send)
            return
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return

        async def send_with_cookie(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                cookie = f"{COOKIE}={self.token}; Path=/; HttpOnly; SameSite=Strict"
                message = {
                    **message,
                    "headers": [*message.get("headers", []), (b"set-cookie", cookie.encode())],
                }
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    @staticmethod
    async def _refuse(scope: Scope, send: Any) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        await send(
            {
                "type": "http.response.start",
                "status": 403,
                "headers": [(b"content-type", b"text/plain; charset=utf-8")],
            }
        )
        await send({"type": "http.response.body", "body": REFUSED})
