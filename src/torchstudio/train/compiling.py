"""How the training passes run the model: as it is, TorchScript, or `torch.compile`.

`auto` measures: a few training steps as the model is, then (when the expected length of the
training could repay the compile's estimated cost) a few compiled steps; the compiled form
stays only when its steps are faster. A model that cannot be compiled trains as it is, and a
note says why. The compiled form shares the model's parameters: the optimizer, checkpoints
and best weights see one model.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from torchstudio.train.settings import COMPILE_CHOICES

TORCH_COMPILE_MODES = {
    "compile": "default",
    "compile-reduce-overhead": "reduce-overhead",  # CUDA graphs on a GPU
    "compile-max-autotune": "max-autotune",
}


@dataclass(frozen=True)
class Candidate:
    """What `auto` tries on a device type: the compiled form, what compiling it costs
    (seconds, with its trial steps) and the share of a step it may save at best."""

    choice: str
    cost_s: float
    best_saving: float


# Measured on a 2-core CPU with the MNIST network (1.2 M parameters, batch 64):
# TorchScript steps took 0.95-1.1x the eager ones, torch.compile's (inductor, gcc) 1.1-1.3x
# after 26 s of compiling (3 s from a warm cache), so on the CPU only TorchScript is tried,
# and only for trainings long enough that its trial (about a second of scripting and slower
# profiling steps) stays under 2% of them even when it loses. On a GPU, torch.compile's
# fused kernels save a fifth to a third of a step, repaying tens of seconds of compiling.
AUTO_CANDIDATES = {
    "cuda": Candidate("compile", cost_s=60.0, best_saving=0.3),
    "cpu": Candidate("torchscript", cost_s=3.0, best_saving=0.03),
}
WARMUP_STEPS = 2  # steps not timed after a switch (first-call work, profiling executors)
TIMED_STEPS = 6  # steps timed per form
KEEP_BELOW = 0.97  # a compiled form stays when its steps take under this share of eager's

Note = Callable[[str], None]


class CompileError(RuntimeError):
    """The model cannot be compiled in the chosen way."""


def compile_model(model: nn.Module, choice: str) -> nn.Module:
    """The model compiled as `choice` says (torchscript, compile, compile-MODE)."""
    try:
        if choice == "torchscript":
            with warnings.catch_warnings():  # deprecated in favour of torch.compile: chosen here
                warnings.simplefilter("ignore", FutureWarning)
                return torch.jit.script(model)
        if choice in TORCH_COMPILE_MODES:
            return torch.compile(model, mode=TORCH_COMPILE_MODES[choice])  # type: ignore[return-value]
    except Exception as exc:  # scripting raises many kinds for code it cannot read
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise CompileError(f"{choice} cannot compile the model: {first_line}") from exc
    raise CompileError(f"unknown compile choice {choice!r}: one of {', '.join(COMPILE_CHOICES)}")


@dataclass
class Choice:
    """What a run's passes use: `setting` as asked, `used` the form in use, and why."""

    setting: str
    used: str = "off"
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"setting": self.setting, "used": self.used, "reason": self.reason}


class CompiledRunner(nn.Module):
    """Calls the compiled model, or the model as it is when compiling fails on the first call
    (torch.compile compiles lazily), with a note saying why."""

    def __init__(self, model: nn.Module, compiled: nn.Module, choice: Choice, note: Note) -> None:
        super().__init__()
        # Plain attributes, not submodules: the runner holds no state of its own.
        object.__setattr__(self, "model", model)
        object.__setattr__(self, "compiled", compiled)
        self.choice, self.note, self.proven = choice, note, False

    def train(self, mode: bool = True) -> CompiledRunner:
        self.training = mode
        self.model.train(mode)
        if self.compiled is not None:
            self.compiled.train(mode)
        return self

    def forward(self, *inputs: Any) -> Any:
        if self.compiled is None:
            return self.model(*inputs)
        if self.proven:
            return self.compiled(*inputs)
        try:
            outputs = self.compiled(*inputs)
        except Exception as exc:
            self.fall_back(exc)
            return self.model(*inputs)
        self.proven = True
        return outputs

    def fall_back(self, exc: BaseException) -> None:
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        object.__setattr__(self, "compiled", None)
        self.choice.used = "off"
        self.choice.reason = f"{self.choice.setting} failed, training as it is: {first_line}"
        self.note(self.choice.reason)


class AutoRunner(CompiledRunner):
    """`auto`: times training steps as the model is, then compiled, then as it is again, and
    keeps the faster form.

    A step's time is the time between two training calls (forward, backward, optimizer,
    next batch); a switch to validation starts the timing again. The model's own steps are
    timed before and after the compiled ones, and their mean is the reference: a machine
    growing busier or quieter meanwhile does not decide the choice.
    """

    def __init__(
        self,
        model: nn.Module,
        candidate: Candidate,
        expected_steps: int,
        choice: Choice,
        note: Note,
    ) -> None:
        super().__init__(model, None, choice, note)  # type: ignore[arg-type]
        self.trying, self.candidate = candidate, candidate.choice
        self.expected_steps = expected_steps
        self.steps = 0  # training steps seen in this phase
        self.done_steps = 0  # training steps seen before it
        self.phase = "eager"  # eager -> trial -> confirm -> done
        self.last: float | None = None
        self.times: list[float] = []
        self.eager_steps: list[float] = []
        self.trial_step = 0.0
        self.held: nn.Module | None = None  # the compiled form while the model is timed again

    def train(self, mode: bool = True) -> AutoRunner:
        super().train(mode)
        if self.held is not None:
            self.held.train(mode)
        self.last = None
        return self

    def forward(self, *inputs: Any) -> Any:
        if self.training and self.phase != "done":
            self._time_step()
        return super().forward(*inputs)

    def _time_step(self) -> None:
        now = time.perf_counter()
        if self.last is not None:
            self.steps += 1
            if self.steps > WARMUP_STEPS:
                self.times.append(now - self.last)
        self.last = now
        if len(self.times) < TIMED_STEPS:
            return
        step = sorted(self.times)[len(self.times) // 2]  # the median: robust to a busy moment
        self.done_steps += self.steps
        self.steps, self.times = 0, []
        if self.phase == "eager":
            self.eager_steps.append(step)
            self._try_candidate(step)
        elif self.phase == "trial":
            self._after_trial(step)
        else:
            self.eager_steps.append(step)
            self._judge()
        self.last = time.perf_counter()

    def _try_candidate(self, eager_step: float) -> None:
        left = max(0, self.expected_steps - self.done_steps)
        could_save = left * eager_step * self.trying.best_saving
        cost = self.trying.cost_s
        if could_save <= cost:
            self._finish(
                "off",
                f"not compiled: {left} steps left at {eager_step * 1000:.0f} ms could save "
                f"about {could_save:.0f} s, less than {self.candidate}'s {cost:.0f} s",
            )
            return
        try:
            compiled = compile_model(self.model, self.candidate)
        except CompileError as exc:
            self._finish("off", f"{exc}; training as it is")
            return
        compiled.train(self.training)
        object.__setattr__(self, "compiled", compiled)
        self.proven = False
        self.phase = "trial"

    def _after_trial(self, step: float) -> None:
        self.trial_step = step
        if step >= self.eager_steps[0] * KEEP_BELOW:
            object.__setattr__(self, "compiled", None)
            self._finish("off", self._slower_text())
            return
        self.held = self.compiled  # warmed up: kept aside while the model is timed again
        object.__setattr__(self, "compiled", None)
        self.phase = "confirm"

    def _judge(self) -> None:
        eager = sum(self.eager_steps) / len(self.eager_steps)
        if self.trial_step < eager * KEEP_BELOW:
            object.__setattr__(self, "compiled", self.held)
            self._finish(
                self.candidate,
                f"{self.candidate}: {self.trial_step * 1000:.0f} ms a step against "
                f"{eager * 1000:.0f} ms as it is",
            )
        else:
            self._finish("off", self._slower_text())
        self.held = None

    def _slower_text(self) -> str:
        eager = sum(self.eager_steps) / len(self.eager_steps)
        return (
            f"not compiled: {self.candidate} took {self.trial_step * 1000:.0f} ms a step, "
            f"as it is {eager * 1000:.0f} ms"
        )

    def _finish(self, used: str, reason: str) -> None:
        self.phase = "done"
        self.choice.used, self.choice.reason = used, reason
        self.note(reason)

    def fall_back(self, exc: BaseException) -> None:
        super().fall_back(exc)
        self.phase = "done"


def make_runner(
    model: nn.Module, setting: str, device: torch.device, expected_steps: int, note: Note
) -> tuple[nn.Module | None, Choice]:
    """The module the passes call instead of `model` (None: the model itself), and the choice."""
    choice = Choice(setting)
    if setting == "off":
        choice.reason = "not compiled (compile is off)"
        return None, choice
    if setting == "auto":
        candidate = AUTO_CANDIDATES.get(device.type)
        if candidate is None:
            choice.reason = f"not compiled: auto compiles on {', '.join(AUTO_CANDIDATES)} only"
            return None, choice
        choice.reason = f"measuring the model as it is, then {candidate.choice}"
        return AutoRunner(model, candidate, expected_steps, choice, note), choice
    try:
        compiled = compile_model(model, setting)
    except CompileError as exc:
        choice.reason = f"{exc}; training as it is"
        note(choice.reason)
        return None, choice
    choice.used, choice.reason = setting, f"compiled with {setting}"
    return CompiledRunner(model, compiled, choice, note), choice
