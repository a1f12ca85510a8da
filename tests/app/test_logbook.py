"""The log keeps the lines it could not save, and saves them once the project can be written."""

import pytest

from torchstudio.app.store.logbook import LogBook


def test_lines_that_could_not_be_saved_are_saved_by_the_next_flush():
    book = LogBook()
    book.add("app", "first\nsecond")
    saved: list[str] = []

    def full_disk(lines):
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space"):
        book.flush(full_disk)
    book.add("app", "third")
    book.flush(lambda lines: saved.extend(text for _, _, text in lines))
    assert saved == ["first", "second", "third"]
    book.flush(lambda lines: saved.extend(text for _, _, text in lines))
    assert saved == ["first", "second", "third"]  # nothing is saved twice
