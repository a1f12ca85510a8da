"""The one exception type of remote work: its message is the text the user reads."""

from __future__ import annotations


class RemoteError(Exception):
    """Connecting, uploading or starting something on a server failed; says why, for the user."""
