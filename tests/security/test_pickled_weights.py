"""Pickled weights (whose unpickling would write a marker file) are refused everywhere.

Weights come from workers (best weights, checkpoints: the "best"/"checkpoint" messages),
from project files made elsewhere, and from exports. Each path gets a pickle, and a
torch.save file holding one; each refuses it with a clear message and the marker file is
never written.
"""

from __future__ import annotations

import builtins
import io
import pickle
import re
import socket
import sqlite3
from pathlib import Path

import pytest
import safetensors.torch
import torch

from torchstudio.app.store.project import Project
from torchstudio.app.store.weights import WeightsError
from torchstudio.model.package import load_state_bytes
from torchstudio.tcpcodec import Connection
from torchstudio.train import state

SRC = Path(__file__).resolve().parents[2] / "src" / "torchstudio"


class Payload:
    """Unpickling this runs `exec`, which writes the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return builtins.exec, (f"open({str(self.marker)!r}, 'w').write('unpickled')",)


@pytest.fixture
def marker(tmp_path) -> Path:
    return tmp_path / "unpickled-marker"


@pytest.fixture
def payloads(marker) -> dict[str, bytes]:
    saved = io.BytesIO()
    torch.save({"weight": Payload(marker)}, saved)
    return {"pickle": pickle.dumps(Payload(marker)), "torch.save": saved.getvalue()}


@pytest.fixture
def project(tmp_path):
    opened = Project.create(tmp_path / "weights.tsproj")
    opened.add_model("net", {"code": "model = None"})
    opened.add_run("net", {}, dataset="", code="")
    yield opened
    opened.close()


def test_the_payload_really_runs_when_unpickled(tmp_path, marker, payloads):
    """The attack is real: plain pickle.loads writes the marker (so the others prove a thing)."""
    pickle.loads(payloads["pickle"])
    assert marker.read_text() == "unpickled"
    marker.unlink()


def test_weights_messages_from_a_worker_are_refused(project, marker, payloads):
    """A worker's best/checkpoint message, through the real protocol on a loopback socket."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        sender = Connection.connect("127.0.0.1", listener.getsockname()[1], timeout=10)
        accepted, _ = listener.accept()
        receiver = Connection(accepted)
        try:
            for kind, data in payloads.items():
                sender.send("best", {"epoch": 1, "weights": data})
                sender.send("checkpoint", {"epoch": 1, "data": data})
                message, value = receiver.recv()
                assert message == "best"
                with pytest.raises(WeightsError, match="pickle") as refused:
                    project.set_weights("net", 1, "best", value["epoch"], value["weights"])
                assert "'net'" in str(refused.value), kind
                assert project.weights("net", "best") is None
                # A checkpoint is kept as bytes; Resume reads it back with safetensors only.
                message, value = receiver.recv()
                project.set_weights("net", 1, message, value["epoch"], value["data"])
                with pytest.raises(state.CheckpointError, match="not a TorchStudio checkpoint"):
                    state.unpack(project.weights("net", "checkpoint")[1])
        finally:
            sender.close()
            receiver.close()
    assert not marker.exists()


def test_pickled_weights_in_a_received_project_are_refused(tmp_path, marker, payloads):
    """A project file from elsewhere with pickled weights: opens, and its weights never load."""
    path = tmp_path / "received.tsproj"
    sent = Project.create(path)
    sent.add_model("net", {"code": "model = None"})
    sent.add_run("net", {}, dataset="", code="")  # run id 1
    sent.close()
    with sqlite3.connect(path) as db:  # as the sender's tool would write them, unchecked
        for kind, payload in (("checkpoint", "pickle"), ("best", "torch.save")):
            db.execute(
                "INSERT INTO weights (run_id, kind, epoch, data, size) VALUES (1, ?, 3, ?, ?)",
                (kind, payloads[payload], len(payloads[payload])),
            )
    received = Project.open(path)
    try:
        checkpoint, best = received.weights("net", "checkpoint"), received.weights("net", "best")
    finally:
        received.close()
    with pytest.raises(state.CheckpointError, match="not a TorchStudio checkpoint"):
        state.unpack(checkpoint[1])  # what Resume does with the stored checkpoint
    with pytest.raises(Exception, match="(?i)header|deserializ|invalid"):
        load_state_bytes(torch.nn.Linear(2, 2), best[1])  # what best weights go through
    assert not marker.exists()


def test_exports_and_checkpoints_load_without_unpickling(tmp_path, marker, payloads):
    exported = tmp_path / "model.pt"
    exported.write_bytes(payloads["torch.save"])
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        torch.load(exported, weights_only=True)  # how the .pt export is read back
    for data in payloads.values():
        with pytest.raises(state.CheckpointError):
            state.unpack(data)
    # Real safetensors still load: the checks refuse pickles, not weights.
    good = safetensors.torch.save({"weight": torch.ones(2, 2), "bias": torch.zeros(2)})
    load_state_bytes(torch.nn.Linear(2, 2), good)
    assert not marker.exists()


def test_no_unpickling_call_in_the_sources():
    """Audit: no pickle.load(s), no torch.load without weights_only=True, no allow_pickle=True."""
    offenders = []
    for file in SRC.rglob("*.py"):
        text = file.read_text(encoding="utf-8")
        for found in re.finditer(r"pickle\.loads?\(|Unpickler\(|allow_pickle\s*=\s*True", text):
            offenders.append(f"{file}: {found.group(0)}")
        for found in re.finditer(r"(?<!safetensors\.)torch\.load\(([^()]|\([^()]*\))*\)", text):
            if "weights_only=True" not in found.group(0):
                offenders.append(f"{file}: {found.group(0)}")
    assert not offenders, "\n".join(offenders)
