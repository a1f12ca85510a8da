"""What a model name may be, and the file names made from one.

A model name is shown, typed and used as a key; it also becomes the name of exported
files. Checked where names are made (new, duplicate, rename, and the project file when
it opens) so that no name can lead a file out of its folder (`../../x`), hide itself
(control characters) or swamp the page.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

MAX_NAME_LENGTH = 100
_FORBIDDEN = "/\\"
_UNSAFE_FILE_CHARACTERS = re.compile(r"[^A-Za-z0-9._-]+")


def name_problem(name: object) -> str | None:
    """Why `name` cannot name a model, or None when it can."""
    if not isinstance(name, str):
        return f"a model name must be text, not {type(name).__name__}"
    if not name.strip():
        return "a model name cannot be empty"
    if len(name) > MAX_NAME_LENGTH:
        return f"a model name has at most {MAX_NAME_LENGTH} characters ({len(name)} given)"
    if any(c in _FORBIDDEN for c in name):
        return f"a model name cannot contain / or \\ ({name!r})"
    if any(unicodedata.category(c).startswith("C") for c in name):
        return f"a model name cannot contain control characters ({name!r})"
    if name.strip() in (".", ".."):
        return f"{name!r} cannot name a model"
    return None


def safe_name(name: object, taken: set[str]) -> str:
    """A valid name close to `name` (for a project file's invalid one), not in `taken`."""
    text = str(name) if isinstance(name, str) else "model"
    text = "".join(
        "_" if c in _FORBIDDEN or unicodedata.category(c).startswith("C") else c for c in text
    )
    text = text.strip(" .")[:MAX_NAME_LENGTH] or "model"
    unique, number = text, 2
    while unique in taken:
        unique, number = f"{text[: MAX_NAME_LENGTH - 6]} {number}", number + 1
    return unique


def file_name(name: str, suffix: str) -> str:
    """A file name made from a model name: letters, digits, `.`, `_`, `-` only, no leading dot."""
    stem = _UNSAFE_FILE_CHARACTERS.sub("_", name).strip("._")[:MAX_NAME_LENGTH] or "model"
    return stem + suffix


def inside(folder: Path, file: str) -> Path:
    """`folder / file`, refused (ValueError) unless it stays directly inside `folder`."""
    path = (folder / file).resolve()
    if path.parent != folder.resolve():
        raise ValueError(f"the file name {file!r} leads out of {folder}")
    return path
