"""The app server: NiceGUI pages and routes over one `Studio`, behind the access guard."""

from __future__ import annotations

import secrets
import socket
import sys
import threading
import time
import webbrowser
from pathlib import Path

from nicegui import app, ui
from starlette.requests import Request

from torchstudio.app.pages.main_page import main_page
from torchstudio.app.pages.theme import THEME_COOKIE
from torchstudio.app.store import recent
from torchstudio.app.store.trust import TrustStore
from torchstudio.app.studio import Studio
from torchstudio.app.web.auth import COOKIE, AccessPolicy, TokenMiddleware
from torchstudio.app.web.heap import freeze_startup_objects, prune_unconnected_pages
from torchstudio.app.web.model_routes import register_model_routes
from torchstudio.app.web.origins import allowed_hosts, is_loopback
from torchstudio.app.web.routes import register_routes


class ExposureError(ValueError):
    """A way of listening that would let others in unchecked; the message is for the user."""


def free_port(host: str) -> int:
    family = socket.getaddrinfo(host or None, 0, type=socket.SOCK_STREAM)[0][0]
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def url_host(host: str) -> str:
    """The host of the printed URL: the loopback address when listening on all of them."""
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def check_exposure(host: str, token_auth: bool) -> str | None:
    """The console warning for listening on `host`, or None; ExposureError when refused."""
    if is_loopback(host):
        if token_auth:
            return None
        return (
            "WARNING: the access token is disabled: every user of this machine can open "
            "TorchStudio and run code as you."
        )
    if not token_auth:
        raise ExposureError(
            f"refusing to listen on {host!r} with the access token disabled: every machine "
            "that reaches this one could run code here. Keep the token (drop --no-token), "
            "set a password (--password), or listen on 127.0.0.1 only"
        )
    return (
        f"WARNING: TorchStudio listens on {host}, not only on this machine: anyone who can "
        "reach this port gets the login (token or password) check, and the traffic is plain "
        "HTTP. Prefer 127.0.0.1 with an SSH tunnel, or put a TLS proxy in front."
    )


def announce(url: str, host: str, port: int, open_browser: bool, target: str = "") -> None:
    """Once the server accepts connections: print the URL, then open the browser on it."""
    for _ in range(600):
        try:
            socket.create_connection((url_host(host).strip("[]"), port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.05)
    print(f"TorchStudio is running at:\n    {url}\n(press Ctrl+C to stop)", flush=True)
    if open_browser:
        webbrowser.open(target or url)


def register(studio: Studio, project: Path | None) -> None:
    """Pages, routes and the start/stop hooks of the studio, on NiceGUI's global app."""

    async def startup() -> None:
        try:
            await studio.start()
            if project is not None:
                await studio.open(project)
        finally:
            studio.ready.set()

    app.on_startup(startup)
    app.on_shutdown(studio.close)
    register_routes(studio)
    register_model_routes(studio)

    @ui.page("/", title="TorchStudio", language="en-US")
    async def index(request: Request) -> None:
        # NiceGUI may run start-up hooks alongside the first requests: wait for the project.
        await studio.ready.wait()
        main_page(studio, request.query_params, request.cookies.get(THEME_COOKIE, ""))


def serve(
    project: Path | None,
    host: str = "127.0.0.1",
    port: int | None = None,
    open_browser: bool = True,
    token: str | None = None,
    *,
    token_auth: bool = True,
    password_hash: bytes | None = None,
    allow_hosts: tuple[str, ...] = (),
) -> None:
    """Run the app until interrupted; prints the URL (with its access token) first.

    ExposureError, before anything starts, for a non-loopback address without access checks.
    """
    warning = check_exposure(host, token_auth or password_hash is not None)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    token = token or secrets.token_urlsafe(24)
    port = port or free_port(host)
    studio = Studio(trust=TrustStore(recent.home()))
    register(studio, project)
    policy = AccessPolicy(
        token=token if token_auth or password_hash is not None else None,
        allowed_hosts=allowed_hosts(host, allow_hosts),
        password_hash=password_hash,
        cookie=f"{COOKIE}_{port}",  # cookies ignore ports: one per app on this machine
    )
    app.add_middleware(TokenMiddleware, policy=policy)
    base = f"http://{url_host(host)}:{port}/"
    if password_hash is not None:
        url = f"{base} (log in with the password you set)"
    elif policy.token is None:
        url = f"{base} (access token disabled: loopback only)"
    else:
        url = f"{base}?token={token}"
    target = url.split(" ")[0]
    thread = threading.Thread(
        target=announce, args=(url, host, port, open_browser, target), daemon=True
    )
    app.on_startup(thread.start)
    app.on_startup(freeze_startup_objects)
    app.timer(5.0, prune_unconnected_pages)
    ui.run(
        host=host,
        port=port,
        title="TorchStudio",
        reload=False,
        show=False,
        show_welcome_message=False,
        storage_secret=token,
        reconnect_timeout=10.0,
        favicon="🔥",
    )
