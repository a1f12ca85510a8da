"""A worker manager that keeps every event, for tests to wait on in order.

The app's own `WorkerManager` keeps no events (subscribers get them and let them go); a test
that waits for "the next exited event" needs the ones that came before it asked too.
"""

from __future__ import annotations

import asyncio
from typing import Any

from torchstudio.app.runtime.manager import WorkerEvent, WorkerManager


class RecordingManager(WorkerManager):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.events: asyncio.Queue[WorkerEvent] = asyncio.Queue()  # one test's events
        self.subscribe(self.events.put_nowait)
