"""Remote servers: server entries, host keys, the package upload and the SSH launcher.

Nothing here is imported at package level on purpose: `torchstudio.remote.guard` runs on
the server, where asyncssh (an app-side dependency) may not be installed.
"""
