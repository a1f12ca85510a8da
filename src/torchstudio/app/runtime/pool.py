"""One running worker per role (the dataset loader, the renderer...), restarted when it died."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from torchstudio.app.runtime.manager import WorkerHandle, WorkerManager


class WorkerPool:
    """Hands out the worker named `name`, starting `torchstudio.<script>` when it is not running."""

    def __init__(self, manager: WorkerManager, env: Mapping[str, str] | None = None) -> None:
        self.manager = manager
        self.env = dict(env or {})
        self._locks: dict[str, asyncio.Lock] = {}

    def running(self, name: str) -> WorkerHandle | None:
        handle = self.manager.workers.get(name)
        return handle if handle is not None and handle.alive else None

    async def get(self, script: str, name: str | None = None) -> WorkerHandle:
        name = name or script
        lock = self._locks.setdefault(name, asyncio.Lock())
        async with lock:  # two callers at once must not start two workers of one name
            handle = self.running(name)
            if handle is None:
                handle = await self.manager.start_worker(script, name=name, env=self.env)
            return handle

    async def stop(self, name: str) -> None:
        handle = self.running(name)
        if handle is not None:
            await handle.stop()
