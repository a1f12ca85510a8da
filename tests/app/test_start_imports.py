"""`torchstudio run` and the app start without importing torch: their workers import it,
in parallel, while the app's own process goes on (seconds off the first batch)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

from torchstudio import modeltrain


def test_the_app_and_torchstudio_run_import_no_torch():
    probe = (
        "import sys, torchstudio.cli, torchstudio.app.headless, torchstudio.app.studio, "
        "torchstudio.app.models.codeexport; print('torch' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=os.environ, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_a_trainer_waits_for_its_warm_imports_before_training():
    thread = modeltrain.warm_imports()
    worker = modeltrain.ModelTrainWorker(thread)
    worker._warmed()
    assert not thread.is_alive() and isinstance(thread, threading.Thread)
    assert all(name in sys.modules for name in modeltrain.WARM_IMPORTS)
