"""The app as NiceGUI's user simulation runs it: the real pages over a project from the env."""

import os
from pathlib import Path

from nicegui import ui

from torchstudio.app.studio import Studio
from torchstudio.app.web.server import register

register(Studio(), Path(os.environ["TORCHSTUDIO_TEST_PROJECT"]))
ui.run(storage_secret="test", reload=False, show=False)
