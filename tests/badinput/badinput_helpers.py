"""Checks shared by the bad-input tests."""

from __future__ import annotations


def expect_line(message: str, chunk: str, line: int) -> None:
    """The message names the chunk as a file and the line in it (the user's line)."""
    assert f'File "{chunk}", line {line}' in message, message
