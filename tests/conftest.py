import os
import sys

import pytest

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
WORKERS_DIR = os.path.join(TESTS_DIR, "workers")


@pytest.fixture
def worker_env() -> dict[str, str]:
    """Environment that lets `python -m crashworker` find the test workers."""
    paths = [WORKERS_DIR, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {"PYTHONPATH": os.pathsep.join(paths)}


sys.path.insert(0, WORKERS_DIR)


@pytest.fixture
async def studio(tmp_path):
    """A real studio on a new demo project with its dataset loaded."""
    from tests.helpers.studios import demo_studio

    async with demo_studio(tmp_path) as studio:
        yield studio
