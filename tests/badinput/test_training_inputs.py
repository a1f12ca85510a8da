"""Bad trainings through the training service and real `modeltrain` workers: each stops
with a message naming the problem, and the next correct training on the same worker runs."""

from __future__ import annotations

import pytest

from torchstudio.app.studio import Studio
from torchstudio.memory_cap import MEMORY_LIMIT_VARIABLE

pytestmark = [pytest.mark.timeout(240), pytest.mark.asyncio(loop_scope="session"), pytest.mark.slow]

TWO_HEADS = """import torch


class TwoHeads(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.head = torch.nn.Linear(64, 10)

    def forward(self, x):
        y = self.head(x.flatten(1))
        return y, y


model = TwoHeads()
"""

NAN_LOSS = """import torch


class NotANumber(torch.nn.Module):
    def forward(self, output, target):
        return output.sum() * float("nan")


loss = NotANumber()
"""

# Every sample of a batch grows from 8×8 to 2048×2048: 16 MiB each, 5.6 GiB for 360.
HUGE_ACTIVATIONS = """import torch


class Upsampler(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.head = torch.nn.Linear(1, 10)

    def forward(self, x):
        big = torch.nn.functional.interpolate(x, scale_factor=256)
        return self.head(big.mean(dim=(2, 3)))


model = Upsampler()
"""

# Above a trainer's own footprint (about 4 GiB of address space), below the huge batch.
WORKER_MEMORY_MB = 5 * 1024


async def failed_then_trains(studio: Studio, name: str, **bad: object) -> str:
    """Train with `bad` settings (expecting an error), then train correctly: the message."""
    studio.training.start(name, epochs=1, **bad)
    run = await studio.training.wait(name)
    assert run.status == "error", run.message
    worker = studio.pool.running(f"modeltrain {name}")
    studio.training.start(name, epochs=1)
    again = await studio.training.wait(name)
    assert again.status == "finished", again.message
    if worker is not None:  # the error came from the trainer: the same worker trained again
        assert studio.pool.running(f"modeltrain {name}") is worker
    return run.error or ""


async def test_a_model_with_more_outputs_than_targets(studio):
    name = studio.project.model_names()[0]
    good = studio.project.model(name)["code"]
    studio.project.update_model(name, code=TWO_HEADS)
    studio.models.built.pop(name, None)  # the code changed: train builds it again
    try:
        studio.training.start(name, epochs=1)
        run = await studio.training.wait(name)
    finally:
        studio.project.update_model(name, code=good)
        studio.models.built.pop(name, None)
    assert run.status == "error"
    assert "the model gives 2 output(s), the dataset has 1 output tensor(s)" in run.error
    worker = studio.pool.running(f"modeltrain {name}")
    studio.training.start(name, epochs=1)
    assert (await studio.training.wait(name)).status == "finished"
    assert studio.pool.running(f"modeltrain {name}") is worker


async def test_a_loss_given_the_wrong_output_shape(studio):
    name = studio.project.model_names()[0]
    message = await failed_then_trains(
        studio, name, loss=["import torch\n\nloss = torch.nn.MSELoss()\n"]
    )
    assert "MSELoss failed on output 0 of shape 32×10 and target of shape 32" in message, message


async def test_a_nan_loss_stops_the_training_naming_the_epoch_and_batch(studio):
    name = studio.project.model_names()[0]
    message = await failed_then_trains(studio, name, loss=[NAN_LOSS])
    assert "the loss became nan at epoch 1, training batch 0" in message, message


async def test_a_device_that_does_not_exist(studio):
    name = studio.project.model_names()[0]
    message = await failed_then_trains(studio, name, device="cuda:7")
    assert "cuda:7" in message and ("not available" in message or "only" in message), message


async def test_out_of_memory_in_a_memory_limited_trainer(studio):
    """The cap is on resident memory: the trainer holding more is stopped, saying so."""
    name = studio.models.duplicate(studio.project.model_names()[0], "limited")
    good = studio.project.model(name)["code"]
    studio.project.update_model(name, code=HUGE_ACTIVATIONS)
    studio.pool.env[MEMORY_LIMIT_VARIABLE] = str(WORKER_MEMORY_MB)
    try:  # only this model's trainer (and its builder) start with the limit
        await studio.models.build(name)
        studio.training.start(name, epochs=1, batch_size=360)
        run = await studio.training.wait(name)
    finally:
        del studio.pool.env[MEMORY_LIMIT_VARIABLE]
    assert run.status == "error", run.message
    assert f"over its cap of {WORKER_MEMORY_MB} MB ({MEMORY_LIMIT_VARIABLE})" in run.error, (
        run.error
    )
    assert studio.pool.running(f"modeltrain {name}") is None  # stopped, not left swapping
    studio.project.update_model(name, code=good)
    studio.models.built.pop(name, None)
    studio.training.start(name, epochs=1)
    again = await studio.training.wait(name)
    assert again.status == "finished", again.message
