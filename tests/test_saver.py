"""Best weights and checkpoints saved on a thread (savequeue.py, train/saver.py, train/epochs.py)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import safetensors.torch
import torch
from tests.helpers.passes import CPU, LOSS, SGD, Small, Source

from torchstudio import tcpcodec
from torchstudio.savequeue import BackgroundSaver
from torchstudio.train.device import setup_precision
from torchstudio.train.epochs import EpochJob, RunState, run_epochs
from torchstudio.train.loop import build_parts
from torchstudio.train.saver import snapshot
from torchstudio.train.settings import TrainSettings
from torchstudio.train.state import unpack


def test_saves_go_out_in_order_newer_replace_queued_ones_and_failures_surface():
    sent: list[tuple[str, int]] = []
    gate = threading.Event()

    def send(kind, value):
        gate.wait(timeout=30)  # the first save holds the thread while the others queue
        sent.append((kind, value))

    saver = BackgroundSaver(send)
    saver.put("best", lambda: 1)
    saver.put("checkpoint", lambda: 1)
    saver.put("best", lambda: 2)  # replaces best 1 if it has not started
    saver.put("checkpoint", lambda: 2)
    gate.set()
    saver.flush()
    assert sent[-2:] == [("best", 2), ("checkpoint", 2)]
    assert len(sent) in (2, 3)  # best 1 may have started before the others came

    def failing():
        raise ValueError("cannot pack this")

    saver.put("checkpoint", failing)
    with pytest.raises(ValueError, match="cannot pack this"):
        saver.flush()
    saver.close()
    assert not saver.thread.is_alive()


def train(epochs: int, background: bool, **settings_given) -> tuple[list, dict]:
    torch.manual_seed(0)
    model = Small()
    settings = TrainSettings(
        loss=[LOSS], optimizer=SGD, batch_size=16, epochs=epochs, **settings_given
    )
    parts = build_parts(model, settings, 6, CPU)
    precision, generator = setup_precision("fp32", CPU), torch.Generator().manual_seed(0)
    job = EpochJob(parts, Source(), Source(48, seed=1), settings, CPU, precision, generator)
    sent: list = []
    summary, best = run_epochs(
        job, RunState(), lambda k, v: sent.append((k, wire(v))), lambda: False,
        background=background,
    )  # fmt: skip
    return sent, {"summary": summary, "best": best, "model": model}


def wire(value: Any) -> Any:
    """`value` as the app receives it: sent is sent (a checkpoint's pieces point into a
    snapshot that the next epoch's copies into, once sent)."""
    return tcpcodec.decode_value(b"".join(bytes(p) for p in tcpcodec.encode_value(value)))


def saves(sent: list) -> list[tuple[str, int, Any]]:
    """The saves among `sent`, in order, as (kind, epoch, payload)."""
    return [(k, int(v["epoch"]), v) for k, v in sent if k in ("best", "checkpoint")]


def test_background_saves_hold_each_epochs_state_while_the_next_trains():
    inline, _ = train(3, background=False)
    background, result = train(3, background=True)

    # The saves go out in order, but on their thread: an epoch's may follow the next epoch's
    # record, so each sequence is compared on its own.
    def reports(sent: list) -> list[tuple[str, Any]]:
        return [(k, v.get("epoch", v.get("text"))) for k, v in sent if k in ("epoch", "progress")]

    assert reports(background) == reports(inline)
    assert [(k, e) for k, e, _ in saves(background)] == [(k, e) for k, e, _ in saves(inline)]
    assert [e for k, e, _ in saves(background) if k == "checkpoint"] == [1, 2, 3]
    for (kind, _, mine), (_, _, theirs) in zip(saves(background), saves(inline), strict=True):
        if kind == "checkpoint":
            a, b = unpack(mine["data"]), unpack(theirs["data"])
            assert a["epoch"] == b["epoch"]
            for key, value in a["model"].items():  # epoch 1's weights, not epoch 3's
                assert torch.equal(value, b["model"][key]), (mine["epoch"], key)
        if kind == "best":
            a, b = (
                safetensors.torch.load(bytes(mine["weights"])),
                safetensors.torch.load(bytes(theirs["weights"])),
            )
            assert all(torch.equal(a[k], b[k]) for k in a)
    assert result["best"] == [v for k, v in background if k == "best"][-1]["weights"]


def test_a_checkpoint_every_n_epochs_and_after_the_last():
    # Saved inline: on the thread, a checkpoint not started when the next one comes is
    # replaced by it (the first test), which a loaded machine makes happen.
    sent, _ = train(5, background=False, checkpoint_every=2)
    assert [v["epoch"] for k, v in sent if k == "checkpoint"] == [2, 4, 5]
    sent, result = train(5, background=True, checkpoint_every=3, early_stop=1)
    stopped_at = result["summary"]["epochs_done"]
    saved = [v["epoch"] for k, v in sent if k == "checkpoint"]
    assert saved[-1] == stopped_at and all(e % 3 == 0 for e in saved[:-1])
    with pytest.raises(ValueError, match="checkpoint_every must be at least 1, not 0"):
        TrainSettings.from_json({"loss": [LOSS], "checkpoint_every": 0})


def test_a_packed_snapshot_is_the_memory_the_next_one_copies_into():
    model = Small()
    first = snapshot(model.state_dict())
    sent: list[bytes] = []
    saver = BackgroundSaver(lambda kind, data: sent.append(data))
    saver.put("best", lambda: safetensors.torch.save(first), first)
    saver.flush()
    spare = saver.spare("best")
    assert spare is first and saver.spare("best") is None  # the caller owns it now
    packed = safetensors.torch.load(sent[0])
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(1.0)
    second = snapshot(model.state_dict(), spare)
    for key, value in model.state_dict().items():
        assert second[key].data_ptr() == first[key].data_ptr()  # copied into, not allocated
        assert torch.equal(second[key], value)
        assert not torch.equal(packed[key], value)  # what was sent kept its values
    saver.close()
    # A tensor whose shape changed gets fresh memory; nested state follows its structure.
    fresh = snapshot({"w": torch.ones(3), "s": [torch.ones(2)]}, {"w": torch.zeros(2), "s": []})
    assert torch.equal(fresh["w"], torch.ones(3)) and torch.equal(fresh["s"][0], torch.ones(2))
