"""The password login: a bcrypt hash held in memory, and the login page the guard serves.

The password itself is never kept: `hash_password` runs once at start and only its bcrypt
hash stays in the process. The page is plain HTML served before NiceGUI (no script, no
session): a form that POSTs the password to /login.
"""

from __future__ import annotations

import html
import os
import sys
from getpass import getpass

import bcrypt

ENV_PASSWORD = "TORCHSTUDIO_PASSWORD"
MIN_LENGTH = 8
LOGIN_PATH = "/login"
MAX_FORM = 4096


class PasswordError(ValueError):
    """A password that cannot be used; the message is for the user."""


def hash_password(password: str) -> bytes:
    """The bcrypt hash of `password` (at least MIN_LENGTH characters)."""
    if len(password) < MIN_LENGTH:
        raise PasswordError(f"the password must have at least {MIN_LENGTH} characters")
    encoded = password.encode()
    if len(encoded) > 72:  # bcrypt only reads 72 bytes: refuse rather than silently cut
        raise PasswordError("the password must be at most 72 bytes long")
    return bcrypt.hashpw(encoded, bcrypt.gensalt())


def check_password(candidate: str, hashed: bytes) -> bool:
    encoded = candidate.encode()
    return 0 < len(encoded) <= 72 and bcrypt.checkpw(encoded, hashed)


def password_from_user() -> bytes:
    """The hash of TORCHSTUDIO_PASSWORD, else of a password typed twice on the terminal."""
    from_env = os.environ.get(ENV_PASSWORD)
    if from_env:
        return hash_password(from_env)
    if not sys.stdin.isatty():
        raise PasswordError(
            f"--password needs a terminal to type the password, or the {ENV_PASSWORD} "
            "environment variable"
        )
    first = getpass("Password for the TorchStudio page: ")
    if getpass("Type it again: ") != first:
        raise PasswordError("the two passwords differ")
    return hash_password(first)


def login_page(message: str = "") -> bytes:
    """The login form; `message` says why the last try failed."""
    note = f'<p style="color:#b00020">{html.escape(message)}</p>' if message else ""
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>TorchStudio: log in</title></head>
<body style="font-family:sans-serif;max-width:24rem;margin:4rem auto">
<h2>TorchStudio</h2>
<p>This TorchStudio asks for the password set when it was started.</p>{note}
<form method="post" action="{LOGIN_PATH}">
<input type="password" name="password" autofocus required style="width:100%">
<p><button type="submit">Log in</button></p>
</form></body></html>
""".encode()
