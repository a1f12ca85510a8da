"""The app as NiceGUI's user simulation runs it: the real pages over a project from the env."""

import os
from pathlib import Path

from nicegui import app, ui

from torchstudio.app.studio import Studio
from torchstudio.app.web.server import register

studio = Studio()
app.state.studio = studio  # the tests change the project through the app, as a page does
register(studio, Path(os.environ["TORCHSTUDIO_TEST_PROJECT"]))
ui.run(storage_secret="test", reload=False, show=False)
