"""Fixtures of the fault-tolerance tests: a studio on the demo project, a small tmpfs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from torchstudio.app.session import Studio

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
async def studio(tmp_path, monkeypatch):
    """A real studio on a new demo project with its dataset loaded (real workers)."""
    monkeypatch.setenv("TORCHSTUDIO_HOME", str(tmp_path / "home"))
    studio = Studio(env={"TORCHSTUDIO_CACHE": str(tmp_path / "cache")})
    await studio.start()
    await studio.new(tmp_path / "demo.tsproj", demo=True)
    assert await studio.dataset.load(), studio.dataset.error
    yield studio
    await studio.close()


@pytest.fixture
def small_disk(tmp_path):
    """A 16 MiB tmpfs, to fill up; skips when mounting is not permitted here."""
    mountpoint = tmp_path / "small-disk"
    mountpoint.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mountpoint)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill (needs root): {mounted.stderr.strip()}")
    yield mountpoint
    subprocess.run(["umount", "-l", str(mountpoint)], check=False)
