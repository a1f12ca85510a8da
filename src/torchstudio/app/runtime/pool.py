"""One running worker per role (the dataset loader, the renderer...), restarted when it died.

A role's worker runs on this machine or on a server (through `Servers`, over SSH); asked
for on another machine than the one it runs on, it is stopped and started there.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING

from torchstudio.app.runtime.manager import WorkerHandle, WorkerManager
from torchstudio.remote.errors import RemoteError

if TYPE_CHECKING:
    from torchstudio.app.runtime.remote_servers import Servers


class WorkerPool:
    """Hands out the worker named `name`, starting `torchstudio.<script>` when it is not running."""

    def __init__(
        self,
        manager: WorkerManager,
        env: Mapping[str, str] | None = None,
        servers: Servers | None = None,
    ) -> None:
        self.manager = manager
        self.env = dict(env or {})
        self.servers = servers
        self.placed: dict[str, str | None] = {}  # the server each named worker runs on
        self._locks: dict[str, asyncio.Lock] = {}

    def running(self, name: str) -> WorkerHandle | None:
        handle = self.manager.workers.get(name)
        return handle if handle is not None and handle.alive else None

    async def get(
        self, script: str, name: str | None = None, server: str | None = None
    ) -> WorkerHandle:
        """The worker on `server` (None: this machine); RemoteError when it cannot start there."""
        name = name or script
        lock = self._locks.setdefault(name, asyncio.Lock())
        async with lock:  # two callers at once must not start two workers of one name
            handle = self.running(name)
            if handle is not None and self.placed.get(name) != server:
                await handle.stop()  # on another machine: it makes way
                handle = None
            if handle is None:
                if server is None:
                    handle = await self.manager.start_worker(script, name=name, env=self.env)
                elif self.servers is None:
                    raise RemoteError(f"{name} should run on server {server!r}: no servers here")
                else:
                    handle = await self.servers.start_worker(
                        self.manager, server, script, worker_name=name
                    )
                self.placed[name] = server
            return handle

    async def stop(self, name: str) -> None:
        handle = self.running(name)
        if handle is not None:
            await handle.stop()
