"""The compile setting (train/compiling.py) and the lean training pass (train/loop.py)."""

from __future__ import annotations

import pytest
import torch
from tests.helpers.passes import CPU, LOSS, SGD, Small, Source, Unscriptable
from torch import nn

from torchstudio.train import compiling
from torchstudio.train.compiling import (
    AUTO_CANDIDATES,
    AutoRunner,
    Choice,
    CompiledRunner,
    make_runner,
)
from torchstudio.train.device import setup_precision
from torchstudio.train.loop import TrainingError, build_parts, run_pass
from torchstudio.train.settings import TrainSettings

TORCHSCRIPT = AUTO_CANDIDATES["cpu"]


def train_once(model: nn.Module, runner: nn.Module | None, epochs: int = 2) -> list[float]:
    settings = TrainSettings(loss=[LOSS], optimizer=SGD, batch_size=16, shuffle=False)
    parts = build_parts(model, settings, 6, CPU)
    parts.runner = runner
    precision, generator = setup_precision("fp32", CPU), torch.Generator()
    losses = []
    for epoch in range(1, epochs + 1):
        result = run_pass(parts, Source(), settings, CPU, precision, generator, True, epoch)
        losses.append(result.loss)
    return losses


def test_torchscript_trains_the_models_own_parameters():
    torch.manual_seed(0)
    eager, scripted = Small(), Small()
    scripted.load_state_dict(eager.state_dict())
    notes: list[str] = []
    runner, choice = make_runner(scripted, "torchscript", CPU, 100, notes.append)
    assert isinstance(runner, CompiledRunner) and choice.used == "torchscript"
    expected = train_once(eager, None)
    got = train_once(scripted, runner)
    assert got == pytest.approx(expected, rel=1e-5)
    assert got[1] < got[0]
    # The scripted form trained the model's own tensors: its state is the eager run's.
    for key, value in eager.state_dict().items():
        assert torch.allclose(scripted.state_dict()[key], value, atol=1e-6), key
    assert notes == []


def test_a_model_that_cannot_compile_trains_as_it_is_with_a_note():
    notes: list[str] = []
    runner, choice = make_runner(Unscriptable(), "torchscript", CPU, 100, notes.append)
    assert runner is None and choice.used == "off"
    assert notes and notes[0].startswith("torchscript cannot compile the model")
    assert notes[0].endswith("training as it is")

    class Failing(nn.Module):  # torch.compile fails on the first call, not when made
        def forward(self, x):
            raise RuntimeError("backend exploded\nstack...")

    model, lazy = Small(), Choice("compile", used="compile")
    runner = CompiledRunner(model, Failing(), lazy, notes.append)
    losses = train_once(model, runner, epochs=1)
    assert lazy.used == "off" and "compile failed, training as it is: backend exploded" in notes
    assert losses[0] > 0


def test_unknown_compile_setting_is_refused_by_name():
    with pytest.raises(ValueError, match="compile must be one of auto, off, torchscript"):
        TrainSettings.from_json({"loss": [LOSS], "compile": "fast"})
    assert TrainSettings().compile == "auto"


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Timed(nn.Module):
    """Advances the fake clock by `cost` per call: a step's time as the runner sees it."""

    def __init__(self, clock: FakeClock, cost: float, inner: nn.Module) -> None:
        super().__init__()
        self.clock, self.cost, self.inner = clock, cost, inner

    def forward(self, x):
        self.clock.now += self.cost
        return self.inner(x)


@pytest.mark.parametrize(
    ("compiled_cost", "expected_steps", "used", "reason"),
    [
        (0.005, 100_000, "torchscript", "torchscript: 5 ms a step against 10 ms as it is"),
        (0.011, 100_000, "off", "not compiled: torchscript took 11 ms a step, as it is 10 ms"),
        (0.005, 50, "off", "not compiled: 42 steps left at 10 ms could save about 0 s"),
        # On the CPU a training under 100 s (3 s against 3% of it) is not tried at all.
        (0.005, 5_000, "off", "not compiled: 4992 steps left at 10 ms could save about 1 s"),
    ],
)
def test_auto_keeps_the_faster_form_when_the_training_can_repay_it(
    monkeypatch, compiled_cost, expected_steps, used, reason
):
    clock = FakeClock()
    monkeypatch.setattr(compiling.time, "perf_counter", clock)
    model = Small()
    monkeypatch.setattr(
        compiling, "compile_model", lambda m, choice: Timed(clock, compiled_cost, model)
    )
    timed = Timed(clock, 0.010, model)
    notes: list[str] = []
    runner = AutoRunner(timed, TORCHSCRIPT, expected_steps, Choice("auto"), notes.append)
    runner.train(True)
    x = torch.rand(2, 1, 6, 6)
    for _ in range(40):
        runner(x)
    assert runner.choice.used == used
    assert notes == [runner.choice.reason] and runner.choice.reason.startswith(reason)
    calls_before = clock.now
    runner(x)
    assert clock.now - calls_before == pytest.approx(compiled_cost if used != "off" else 0.010)


def test_auto_on_a_device_without_a_candidate_and_off():
    runner, choice = make_runner(Small(), "auto", torch.device("meta"), 10, print)
    assert runner is None and "auto compiles on cuda, cpu only" in choice.reason
    runner, choice = make_runner(Small(), "off", CPU, 10, print)
    assert runner is None and choice.to_json()["used"] == "off"


def test_lean_pass_sums_the_loss_validates_in_inference_mode_and_names_a_bad_batch():
    seen: list[tuple[bool, bool]] = []

    class Watching(Small):
        def forward(self, x):
            seen.append((self.training, torch.is_inference_mode_enabled()))
            return super().forward(x)

    torch.manual_seed(0)
    model = Watching()
    settings = TrainSettings(loss=[LOSS], optimizer=SGD, batch_size=32, shuffle=False)
    parts = build_parts(model, settings, 3, CPU)
    precision, generator = setup_precision("fp32", CPU), torch.Generator()
    source = Source(80)
    result = run_pass(parts, source, settings, CPU, precision, generator, False, 1)
    with torch.no_grad():
        expected = nn.functional.cross_entropy(model(source.x), source.y).item()
    assert result.loss == pytest.approx(expected, rel=1e-5)
    assert result.samples == 80 and result.batches == 3
    assert seen[:3] == [(False, True)] * 3  # validation: eval mode, inference mode
    run_pass(parts, source, settings, CPU, precision, generator, True, 1)
    assert seen[-1] == (True, False)

    source.x[40] = float("nan")  # in the second batch
    with pytest.raises(TrainingError, match=r"the loss became nan at epoch 2, training batch 1:"):
        run_pass(parts, source, settings, CPU, precision, generator, True, 2)


def test_channels_last_trains_the_same_and_a_view_model_goes_back_to_the_usual_layout():
    torch.manual_seed(0)
    usual, last = Small(), Small()
    last.load_state_dict(usual.state_dict())
    expected = train_once(usual, None)
    settings = TrainSettings(loss=[LOSS], optimizer=SGD, batch_size=16, shuffle=False)
    last.to(memory_format=torch.channels_last)
    parts = build_parts(last, settings, 6, CPU)
    parts.channels_last = True
    precision, generator = setup_precision("fp32", CPU), torch.Generator()
    got = [
        run_pass(parts, Source(), settings, CPU, precision, generator, True, epoch).loss
        for epoch in (1, 2)
    ]
    assert got == pytest.approx(expected, rel=1e-4)
    assert last.conv.weight.is_contiguous(memory_format=torch.channels_last)

    class Viewing(Small):
        def forward(self, x):  # .view needs the usual layout
            return self.head(torch.relu(self.conv(x)).view(x.shape[0], -1))

    viewing = Viewing().to(memory_format=torch.channels_last)
    parts = build_parts(viewing, settings, 6, CPU)
    parts.channels_last = True
    result = run_pass(parts, Source(), settings, CPU, precision, generator, True, 1)
    assert result.loss > 0 and not parts.channels_last
    assert viewing.conv.weight.is_contiguous()


def test_auto_times_the_model_again_after_the_compiled_steps(monkeypatch):
    """The machine grows quieter during the trial: the compiled steps only looked faster."""
    clock = FakeClock()
    monkeypatch.setattr(compiling.time, "perf_counter", clock)
    model = Small()
    monkeypatch.setattr(compiling, "compile_model", lambda m, choice: Timed(clock, 0.012, model))

    class Quieter(Timed):
        calls = 0

        def forward(self, x):
            self.calls += 1
            self.cost = 0.020 if self.calls <= 9 else 0.004  # 9 calls: the first timing
            return super().forward(x)

    notes: list[str] = []
    runner = AutoRunner(
        Quieter(clock, 0.0, model), TORCHSCRIPT, 10**6, Choice("auto"), notes.append
    )
    runner.train(True)
    for _ in range(40):
        runner(torch.rand(2, 1, 6, 6))
    assert runner.choice.used == "off" and runner.compiled is None
    assert notes == ["not compiled: torchscript took 12 ms a step, as it is 12 ms"]
