"""The suite's own scheduling: tests marked with one xdist group run in one process.

The sshd tests share one OpenSSH server and one test user's password, and a module's
browser tests share one app server; both rely on pytest-xdist's groups. A pytest release
that xdist does not follow yet can drop the groups without a word (pytest 9.2 did), so
this runs a tiny suite under two processes and reads where each test ran.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(120)

GROUPED = """
import os
import pytest

@pytest.mark.xdist_group("together")
@pytest.mark.parametrize("n", range(6))
def test_grouped(n):
    pass

@pytest.mark.parametrize("n", range(6))
def test_free(n):
    pass
"""


def test_one_group_runs_in_one_process(tmp_path: Path) -> None:
    (tmp_path / "test_tiny.py").write_text(GROUPED)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    command = [sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup", "-v"]
    done = subprocess.run(
        [*command, "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    ran = re.findall(r"\[(gw\d)\].*PASSED .*::(test_\w+)\[", done.stdout)
    grouped = {process for process, name in ran if name == "test_grouped"}
    assert len([name for _, name in ran if name == "test_grouped"]) == 6, done.stdout
    assert len(grouped) == 1, f"the group was split over {sorted(grouped)}:\n{done.stdout}"
