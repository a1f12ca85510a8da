"""The JSON a project file holds, checked when it opens: valid, not too deep, the right shape.

A project file from elsewhere (or hand-edited) may hold text that is not JSON, JSON nested
deep enough to overflow the parser's stack, or a list where a mapping belongs. Each is found
at open and named in one line (the document and what is wrong), instead of a traceback when
some page first reads it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from typing import Any

MAX_DEPTH = 64  # far more than any document TorchStudio writes


class ContentError(ValueError):
    """A stored JSON text is not what it should be; the message names the document."""


def depth(value: Any) -> int:
    """How deeply `value` nests lists and mappings (without recursion)."""
    deepest = 0
    pending = [(value, 1)]
    while pending:
        item, level = pending.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            children = item.values() if isinstance(item, dict) else item
            pending.extend((child, level + 1) for child in children)
    return deepest


def parse(text: Any, where: str) -> Any:
    """The JSON value of `text`, or ContentError naming `where` and what is wrong."""
    if not isinstance(text, str | bytes):
        raise ContentError(f"{where} is not JSON text but {type(text).__name__}")
    try:
        value = json.loads(text)
    except RecursionError:
        raise ContentError(f"{where} is JSON nested too deeply to read") from None
    except ValueError as exc:  # JSONDecodeError, invalid UTF-8
        raise ContentError(f"{where} is not valid JSON ({exc})") from None
    if depth(value) > MAX_DEPTH:
        raise ContentError(f"{where} is JSON nested deeper than {MAX_DEPTH} levels")
    return value


def _rows(db: sqlite3.Connection) -> Iterator[tuple[str, Any, bool]]:
    """(where, JSON text, must be a mapping) for every JSON text of the project."""
    for name, text in db.execute("SELECT name, value FROM documents"):
        yield f"document {name!r}", text, name == "dataset"
    for name, text in db.execute("SELECT name, value FROM models"):
        yield f"model {name!r}", text, True
    query = (
        "SELECT models.name, runs.number, runs.settings, runs.summary FROM runs "
        "JOIN models ON models.id = runs.model_id"
    )
    for name, number, settings, summary in db.execute(query):
        yield f"run {number} of model {name!r}: settings", settings, True
        yield f"run {number} of model {name!r}: summary", summary, True
    query = (
        "SELECT models.name, runs.number, epochs.epoch, epochs.value FROM epochs "
        "JOIN runs ON runs.id = epochs.run_id JOIN models ON models.id = runs.model_id"
    )
    for name, number, epoch, text in db.execute(query):
        yield f"epoch {epoch} of run {number} of model {name!r}", text, True


def check_contents(db: sqlite3.Connection) -> None:
    """Raise ContentError for the first JSON text of the project that cannot be used."""
    for where, text, mapping in _rows(db):
        value = parse(text, where)
        if mapping and not isinstance(value, dict):
            raise ContentError(f"{where} must be a JSON object, not {type(value).__name__}")
