"""The worker-side dispatch, without sockets."""

import pytest

from torchstudio.worker import Handlers, RecordingContext, dispatch


def make_handlers() -> Handlers:
    handlers = Handlers()

    @handlers.on("double")
    def double(value, ctx):
        ctx.progress(0.5, "halfway")
        return value * 2

    @handlers.on("fail")
    def fail(value, ctx):
        return {}["missing"]

    return handlers


def test_result_and_progress_are_sent_in_order():
    ctx = RecordingContext()
    assert dispatch(make_handlers(), "double", 21, ctx)
    assert ctx.sent == [("progress", {"fraction": 0.5, "text": "halfway"}), ("double:result", 42)]


def test_handler_exception_becomes_error_message_naming_it():
    ctx = RecordingContext()
    assert not dispatch(make_handlers(), "fail", None, ctx)
    ((msg_type, text),) = ctx.sent
    assert msg_type == "fail:error"
    assert "KeyError" in text and "missing" in text


def test_unknown_type_lists_known_ones():
    ctx = RecordingContext()
    assert not dispatch(make_handlers(), "nope", None, ctx)
    ((msg_type, text),) = ctx.sent
    assert msg_type == "nope:error"
    assert "'nope'" in text and "double, fail" in text


@pytest.mark.parametrize("reserved", ["hello", "stop", "progress", "log", "a:result"])
def test_reserved_types_cannot_be_registered(reserved):
    with pytest.raises(ValueError, match="reserved"):
        Handlers().add(reserved, lambda v, c: v)


def test_duplicate_registration_is_refused():
    handlers = make_handlers()
    with pytest.raises(ValueError, match="already registered"):
        handlers.add("double", lambda v, c: v)
