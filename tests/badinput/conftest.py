"""Shared set-up for the bad-input tests: one studio for the whole folder, on the demo project.

Starting the app's workers costs seconds on the shared machine, so the folder keeps one
`Studio` (and its workers) for all its cases; every case then checks that a correct
request on the same service still succeeds, which is what "the app keeps running" means.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import pytest_asyncio

from torchstudio.app.session import Studio

HERE = Path(__file__).resolve().parent

# A quarter of Digits (about 360 training samples): a training epoch takes well under a second.
USAGE_RATIO = 0.25


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def studio(tmp_path_factory: pytest.TempPathFactory):
    """The demo project opened in a real studio, its dataset loaded (real workers)."""
    folder = tmp_path_factory.mktemp("badinput")
    saved_home = os.environ.get("TORCHSTUDIO_HOME")
    os.environ["TORCHSTUDIO_HOME"] = str(folder / "home")
    studio = Studio(env={"TORCHSTUDIO_CACHE": str(folder / "cache")})
    await studio.start()
    await studio.new(folder / "demo.tsproj", demo=True)
    await studio.dataset.configure(usage_ratio=USAGE_RATIO)
    assert await studio.dataset.load(), studio.dataset.error
    try:
        yield studio
    finally:
        await studio.close()
        if saved_home is None:
            os.environ.pop("TORCHSTUDIO_HOME", None)
        else:
            os.environ["TORCHSTUDIO_HOME"] = saved_home


def demo_model(studio: Studio) -> str:
    return studio.project.model_names()[0]
