"""Attack: dataset code that never returns, under `torchstudio run`.

It used to hang silently: no stall report, no timeout, and Ctrl-C printed "did not load:
None" or a traceback. Now the stuck worker is reported "not responding" after the stall
time (as the app shows it), `--timeout` stops everything with exit code 124, and Ctrl-C
(SIGINT to the whole process group, as a terminal sends it) stops the workers and exits
with 130 and one line; in both cases the worker process is gone and no traceback shows.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest
from tests.helpers.processes import process_gone
from tests.helpers.server import TORCHSTUDIO, run_torchstudio, server_env
from tests.helpers.waiting import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

# Stuck without burning a core: the loaded machine must still start the run in time.
ENDLESS = """\
import os, time
open({pidfile!r}, "w").write(str(os.getpid()))
while True:
    time.sleep(0.5)
"""


@pytest.fixture
def hanging(tmp_path):
    """(project whose dataset code loops forever, file where the worker writes its pid, env)."""
    pidfile = tmp_path / "worker.pid"
    code = tmp_path / "endless.py"
    code.write_text(ENDLESS.format(pidfile=str(pidfile)))
    home = tmp_path / "home"
    env = {**server_env(home), "TORCHSTUDIO_STALL_SECONDS": "2"}
    model = tmp_path / "net.py"
    model.write_text("import torch\n\nmodel = torch.nn.Linear(4, 2)\n")
    project = tmp_path / "hang.tsproj"
    options = ["--dataset", str(code), "--model", str(model)]
    made = run_torchstudio("new", *options, str(project), home=home, env=env)
    assert made.returncode == 0, made.stderr
    return project, pidfile, env


def test_a_stall_is_reported_and_the_timeout_stops_everything(hanging):
    project, pidfile, env = hanging
    home = Path(env["TORCHSTUDIO_HOME"])
    done = run_torchstudio("run", str(project), "--timeout", "15", home=home, env=env)
    assert done.returncode == 124, done.stderr
    assert "worker datasetload" in done.stderr and "not responding" in done.stderr, done.stderr
    assert "--timeout of 15 s reached while loading the dataset" in done.stderr
    assert "Traceback" not in done.stderr and not done.stdout.strip()
    wait_until(
        lambda: process_gone(int(pidfile.read_text())), timeout=10, what="the stuck worker ended"
    )


def test_ctrl_c_stops_the_workers_and_exits_cleanly(hanging):
    project, pidfile, env = hanging
    run = subprocess.Popen(
        [TORCHSTUDIO, "run", str(project)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )
    try:
        wait_until(
            lambda: pidfile.exists() and pidfile.read_text(),
            timeout=60,
            what="the dataset code runs",
        )
        os.killpg(run.pid, signal.SIGINT)  # what Ctrl-C does: the run and its workers
        out, err = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 130, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines[-1] == (
        "torchstudio run: interrupted (Ctrl-C) while loading the dataset: stopping the workers"
    ), err
    assert "Traceback" not in err and "did not load" not in err and not out.strip(), err
    wait_until(
        lambda: process_gone(int(pidfile.read_text())), timeout=10, what="the stuck worker ended"
    )
