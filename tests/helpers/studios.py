"""A real studio (real workers) on a new demo project, for the tests that need one."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from .waiting import eventually


@contextlib.asynccontextmanager
async def demo_studio(
    folder: Path,
    *,
    load: bool = True,
    usage_ratio: float | None = None,
    before_start: Callable[[Any], None] | None = None,
) -> AsyncIterator[Any]:
    """The demo project in `folder`, its dataset loaded unless `load` is False.

    TorchStudio's home (recent projects, trust, servers) is in `folder` too, for the
    studio's lifetime; `before_start` gets the studio before it starts (to add servers).
    """
    from torchstudio.app.studio import Studio

    saved_home = os.environ.get("TORCHSTUDIO_HOME")
    os.environ["TORCHSTUDIO_HOME"] = str(folder / "home")
    studio = Studio(env={"TORCHSTUDIO_CACHE": str(folder / "cache")})
    try:
        if before_start is not None:
            before_start(studio)
        await studio.start()
        await studio.new(folder / "demo.tsproj", demo=True)
        if usage_ratio is not None:
            await studio.dataset.configure(usage_ratio=usage_ratio)
        if load:
            assert await studio.dataset.load(), studio.dataset.error
        yield studio
    finally:
        await studio.close()
        if saved_home is None:
            os.environ.pop("TORCHSTUDIO_HOME", None)
        else:
            os.environ["TORCHSTUDIO_HOME"] = saved_home


async def log_lines_with(studio: Any, since: int, text: str, timeout: float = 30) -> list[str]:
    """The studio's log lines after version `since`, once one of them contains `text`.

    Worker output reaches the log asynchronously; the "log" change says when lines came.
    """

    def lines() -> list[str]:
        return [line for _, _, line in studio.log.since(since)]

    await eventually(
        lambda: any(text in line for line in lines()),
        timeout=timeout,
        what=f"a log line with {text!r}",
        changes=studio.changes,
        topics=["log"],
    )
    return lines()
