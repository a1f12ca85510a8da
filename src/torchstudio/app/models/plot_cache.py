"""Plots asked for again with the same data come from memory, not from the plot worker.

Every open page redraws its charts when an epoch ends: with five pages that is five
identical requests to `metricsplot` per epoch. The first one is computed; the others wait
for it (or find it done) and get a copy.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Awaitable, Callable
from typing import Any

from torchstudio.app.lru import LRU

KEPT = 64  # plots remembered: a few per model and chart


class PlotCache:
    """Results of plot requests, keyed by the request itself (JSON-comparable data)."""

    def __init__(self, kept: int = KEPT) -> None:
        self._results = LRU(kept)  # key -> the future of its result
        self.computed = 0  # how many requests really went to a worker

    async def get(self, request: Any, compute: Callable[[], Awaitable[Any]]) -> Any:
        key = json.dumps(request, sort_keys=True, default=str)
        future = self._results.get(key)
        if future is None:
            self.computed += 1
            future = asyncio.ensure_future(compute())
        self._results.put(key, future)  # stored, or asked again: the newest either way
        try:
            result = await asyncio.shield(future)
        except BaseException:
            if self._results.get(key) is future:  # a failure is not remembered
                del self._results[key]
            raise
        return copy.deepcopy(result)  # callers adjust their options: not the kept ones
