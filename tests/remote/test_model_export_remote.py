"""A model trained on the loopback SSH server is shown and exported on the app's machine.

The trainer runs through SSH; the output view and the exports then run in the app's own
output worker from the project's best weights, so the download route and "save to path"
give files here, and the remote trainer gets no request.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket

import httpx
import numpy as np
import onnxruntime
import pytest
import safetensors.torch
import uvicorn
from fastapi import FastAPI
from tests.helpers.waiting import eventually
from tests.remote.test_model_server import SERVER, studio  # noqa: F401 (the fixture)

from torchstudio.app.models.views import OUTPUT_WORKER
from torchstudio.app.web.model_routes import register_model_routes
from torchstudio.remote.process import SSHProcess

pytestmark = pytest.mark.timeout(240)


@contextlib.asynccontextmanager
async def http_server(app: FastAPI):
    """`app` served on a free loopback port: yields its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    task = asyncio.ensure_future(server.serve(sockets=[sock]))
    try:
        await eventually(lambda: server.started, timeout=30, what="the HTTP server started")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)
        sock.close()


def onnx_outputs(data: bytes) -> list[np.ndarray]:
    """Run the ONNX file on a batch of two random inputs of its input shape."""
    session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    feeds = {}
    for entry in session.get_inputs():
        shape = [d if isinstance(d, int) else 2 for d in entry.shape]
        feeds[entry.name] = np.random.default_rng(0).random(shape, dtype=np.float32)
    return session.run(None, feeds)


async def test_outputs_and_exports_of_a_remote_training_land_here(studio, tmp_path):  # noqa: F811
    project, training, models = studio.project, studio.training, studio.models
    name = project.model_names()[0]
    for parameter, value in (("channels", "8"), ("hidden", "32")):
        assert studio.models.set_value(name, parameter, value) == ""
    studio.models.set_placement(name, SERVER, None, sorted(studio.servers.book.entries))
    project.update_model(name, settings={**project.model(name)["settings"], "epochs": 1})
    training.start(name)
    run = await asyncio.wait_for(training.wait(name), 180)
    assert run.status == "finished", run.error
    trainer = models.pool.running(f"modeltrain {name}")
    assert trainer is not None and isinstance(trainer.process, SSHProcess)

    answered: list[tuple[str, str]] = []  # (worker, request) of every result
    unsubscribe = models.pool.manager.subscribe(
        lambda e: answered.append((e.worker, e.data["request"])) if e.kind == "result" else None
    )
    try:
        # The output view: the validation sample's prediction, drawn from this machine.
        await studio.actions.predict(name, 0)
        prediction = studio.actions.state(name).prediction
        assert prediction is not None and not prediction.get("error"), prediction
        assert prediction["outputs"][0]["predicted"] in [str(i) for i in range(10)]

        # The download route (a real HTTP server on loopback) gives a loadable ONNX file.
        api = FastAPI()
        register_model_routes(studio, api)
        async with http_server(api) as base, httpx.AsyncClient(timeout=120) as client:
            reply = await client.get(
                f"{base}/api/model/export", params={"name": name, "fmt": "onnx"}
            )
            assert reply.status_code == 200, reply.text
            assert "attachment" in reply.headers["content-disposition"]
            (logits,) = onnx_outputs(reply.content)
            assert logits.shape == (2, 10)
            unknown = await client.get(
                f"{base}/api/model/export", params={"name": name, "fmt": "x"}
            )
            assert unknown.status_code == 400 and "unknown format x" in unknown.text

        # Save to path: the file is written here, with the project's best weights.
        target = tmp_path / "exports" / "model.safetensors"
        target.parent.mkdir()
        result = await studio.actions.export(name, "safetensors", str(target))
        assert result is not None, studio.actions.state(name).export_message
        assert result["path"] == str(target) and target.stat().st_size == result["bytes"]
        saved = safetensors.torch.load_file(str(target))
        best = safetensors.torch.load(project.weights(name, "best")[1])
        assert saved.keys() == best.keys()
        assert all((saved[k] == best[k]).all() for k in best)
        assert "exported safetensors of run 1 to" in studio.actions.state(name).export_message
    finally:
        unsubscribe()

    # Every output and export request was answered by the local output worker, none by the
    # remote trainer (whose disk is the server's), which is still there, untouched.
    assert [r for w, r in answered if w == OUTPUT_WORKER] == ["infer", "export", "export"]
    assert all(w != f"modeltrain {name}" for w, _ in answered), answered
    local = models.pool.running(OUTPUT_WORKER)
    assert local is not None and not isinstance(local.process, SSHProcess)
    assert models.pool.running(f"modeltrain {name}") is trainer


async def test_save_to_path_needs_a_path_and_trained_weights(studio, tmp_path):  # noqa: F811
    name = studio.project.model_names()[0]
    assert await studio.actions.export(name, "onnx", "  ") is None
    assert studio.actions.state(name).export_message == (
        "export failed: give the path of the file to save"
    )
    missing = tmp_path / "no such folder" / "model.onnx"
    assert await studio.actions.export(name, "onnx", str(missing)) is None
    # Not trained yet: the message says so, and the app goes on.
    assert "train the model first" in studio.actions.state(name).export_message
