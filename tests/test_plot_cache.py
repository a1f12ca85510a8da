"""The plot cache: identical requests computed once, failures not kept, copies handed out."""

import asyncio

import pytest

from torchstudio.app.models.plot_cache import PlotCache


async def test_identical_requests_at_once_are_computed_once_and_get_copies():
    cache = PlotCache()
    calls = []

    async def compute():
        calls.append(1)
        await asyncio.sleep(0.01)
        return {"series": [1, 2]}

    results = await asyncio.gather(*(cache.get({"models": ["a"]}, compute) for _ in range(5)))
    assert len(calls) == 1 and cache.computed == 1
    assert all(r == {"series": [1, 2]} for r in results)
    results[0]["series"].append(3)  # a page adjusting its options changes only its copy
    assert await cache.get({"models": ["a"]}, compute) == {"series": [1, 2]}
    await cache.get({"models": ["a", "b"]}, compute)
    assert len(calls) == 2


async def test_a_failed_plot_is_asked_again_and_old_plots_are_forgotten():
    cache = PlotCache(kept=2)
    outcomes = [ValueError("worker gone"), {"ok": 1}]

    async def compute():
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    with pytest.raises(ValueError, match="worker gone"):
        await cache.get("r", compute)
    assert await cache.get("r", compute) == {"ok": 1}

    async def fresh():
        return {"n": cache.computed}

    for key in ("x", "y"):
        await cache.get(key, fresh)
    await cache.get("r", fresh)  # "r" was the oldest: computed again
    assert cache.computed == 5
