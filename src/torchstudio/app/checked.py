"""Type checks of stored documents: a field of the wrong type is named, never a traceback.

A project file may come from elsewhere, hand-edited or made by a bug: each typed document
(the dataset definition, a model) checks the fields it reads with `checked`.
"""

from __future__ import annotations

from typing import Any


class DocumentError(ValueError):
    """A stored document has a field of the wrong type; the message names it."""


def checked(value: Any, types: type | tuple[type, ...], where: str, what: str) -> Any:
    """`value` if it is one of `types` (or None); else DocumentError naming `where`."""
    if value is None:
        return None
    wrong_bool = isinstance(value, bool) and bool not in (
        types if isinstance(types, tuple) else (types,)
    )
    if wrong_bool or not isinstance(value, types):
        shown = repr(value)
        shown = shown if len(shown) <= 40 else shown[:37] + "..."
        raise DocumentError(f"{where} must be {what}, not {type(value).__name__} {shown}")
    return value
