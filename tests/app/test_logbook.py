"""The log keeps the lines it could not save, and saves them once the project can be written."""

import pytest

from torchstudio.app.store.logbook import (
    LogBook,
    file_size,
    format_line,
    last_line,
    level_of,
    shown_at,
)


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


def test_levels_tell_actions_from_output_and_errors():
    assert level_of((0, "app", "built Net: 1,234 parameters")) == "action"
    assert level_of((0, "app", "build of Net failed: ValueError: bad")) == "error"
    assert level_of((0, "modeltrain Net", "Traceback (most recent call last):")) == "error"
    assert level_of((0, "modelbuild", "RuntimeError: shapes differ")) == "error"
    assert level_of((0, "modelbuild", "UserWarning: the exporter is slow")) == "warning"
    assert (
        level_of((0, "model outputs", "[torch.onnx] Translate the graph into ONNX...")) == "output"
    )
    chatter = (0, "model outputs", "[torch.onnx] Run decomposition... ✅")
    assert not shown_at(chatter, everything=False) and shown_at(chatter, everything=True)
    assert shown_at((0, "app", "opened p.tsproj"), everything=False)
    assert "ERROR [app] build of Net failed" in format_line((0, "app", "build of Net failed: x"))
    assert format_line((0, "app", "built Net")).endswith(" [app] built Net")


def test_sizes_and_last_lines_read_well():
    assert [file_size(n) for n in (12, 34_500, 1_234_567, 5e9)] == [
        "12 bytes",
        "34.5 kB",
        "1.23 MB",
        "5 GB",
    ]
    assert last_line("Error in model code\n  File x\nValueError: bad\n") == "ValueError: bad"
