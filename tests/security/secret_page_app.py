"""The real app pages over a project, with a remote server added with a password.

Run by test_secrets.py as its own process: the password comes from TS_TEST_SECRET and
goes through `Studio.servers.add`, as the app's server form would pass it.
"""

import os
from pathlib import Path

from nicegui import ui

from torchstudio.app.studio import Studio
from torchstudio.app.web.server import register
from torchstudio.remote.entry import ServerEntry

studio = Studio()
entry = ServerEntry(name="secret-server", host="127.0.0.1", user="tsremote", port=22)
studio.servers.add(entry, password=os.environ["TS_TEST_SECRET"], passphrase="pp-" + entry.name)
register(studio, Path(os.environ["TORCHSTUDIO_TEST_PROJECT"]))
port = int(os.environ["TS_TEST_PORT"])
print(f"serving http://127.0.0.1:{port}/", flush=True)
ui.run(host="127.0.0.1", port=port, storage_secret="test", reload=False, show=False)
