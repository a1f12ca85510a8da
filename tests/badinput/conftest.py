"""Shared set-up for the bad-input tests: one studio for the whole folder, on the demo project.

Starting the app's workers costs seconds on the shared machine, so the folder keeps one
`Studio` (and its workers) for all its cases; every case then checks that a correct
request on the same service still succeeds, which is what "the app keeps running" means.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import pytest_asyncio
from tests.helpers.studios import demo_studio

from torchstudio.app.studio import Studio

HERE = Path(__file__).resolve().parent

# A quarter of Digits (about 360 training samples): a training epoch takes well under a second.
USAGE_RATIO = 0.25


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def studio(tmp_path_factory: pytest.TempPathFactory):
    """The demo project opened in a real studio, its dataset loaded (real workers)."""
    async with demo_studio(tmp_path_factory.mktemp("badinput"), usage_ratio=USAGE_RATIO) as studio:
        yield studio


def demo_model(studio: Studio) -> str:
    return studio.project.model_names()[0]
