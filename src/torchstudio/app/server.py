"""The app server: NiceGUI pages and routes over one `Studio`, behind the access token."""

from __future__ import annotations

import secrets
import socket
import threading
import time
import webbrowser
from pathlib import Path

from nicegui import app, ui

from torchstudio.app.auth import TokenMiddleware
from torchstudio.app.model_routes import register_model_routes
from torchstudio.app.pages.main_page import main_page
from torchstudio.app.routes import register_routes
from torchstudio.app.session import Studio


def free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def url_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "") else f"[{host}]" if ":" in host else host


def announce(url: str, host: str, port: int, open_browser: bool) -> None:
    """Once the server accepts connections: print the URL, then open the browser on it."""
    for _ in range(600):
        try:
            socket.create_connection((url_host(host).strip("[]"), port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.05)
    print(f"TorchStudio is running at:\n    {url}\n(press Ctrl+C to stop)", flush=True)
    if open_browser:
        webbrowser.open(url)


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

    @ui.page("/", title="TorchStudio")
    async def index() -> None:
        # NiceGUI may run start-up hooks alongside the first requests: wait for the project.
        await studio.ready.wait()
        main_page(studio)


def serve(
    project: Path | None,
    host: str = "127.0.0.1",
    port: int | None = None,
    open_browser: bool = True,
    token: str | None = None,
) -> None:
    """Run the app until interrupted; prints the URL (with its access token) first."""
    token = token or secrets.token_urlsafe(24)
    port = port or free_port(host)
    studio = Studio()
    register(studio, project)
    app.add_middleware(TokenMiddleware, token=token)
    url = f"http://{url_host(host)}:{port}/?token={token}"
    thread = threading.Thread(target=announce, args=(url, host, port, open_browser), daemon=True)
    app.on_startup(thread.start)
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
