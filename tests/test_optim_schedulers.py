"""The built-in optimizers (a step reduces a loss) and schedulers (their lr sequences)."""

import pytest
import torch

from torchstudio.optim import SGD, Adam, AdamW, AdamWScheduleFree
from torchstudio.optim.fused import fused_fits
from torchstudio.schedulers import MultiStep, NoSchedule, OneCycle, Step
from torchstudio.train import state as checkpoints
from torchstudio.train.epochs import match_weight_layouts


def _problem():
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 1)
    inputs = torch.randn(32, 4)
    target = inputs @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]])
    return model, lambda: torch.nn.functional.mse_loss(model(inputs), target)


@pytest.mark.parametrize(
    ("cls", "settings"),
    [
        (Adam, {"lr": 0.05}),
        (AdamW, {"lr": 0.05, "weight_decay": 0.01}),
        (SGD, {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
        (AdamWScheduleFree, {"lr": 0.05, "warmup_steps": 0}),
    ],
)
def test_optimizer_steps_reduce_the_loss(cls, settings):
    model, compute_loss = _problem()
    optimizer = cls(model.parameters(), **settings)
    assert isinstance(optimizer, torch.optim.Optimizer)
    if hasattr(optimizer, "needs_train_eval"):
        optimizer.train()
    before = compute_loss().item()
    for _ in range(5):
        optimizer.zero_grad()
        compute_loss().backward()
        optimizer.step()
    if hasattr(optimizer, "needs_train_eval"):
        optimizer.eval()  # evaluate at the averaged weights
    assert compute_loss().item() < before


@pytest.mark.parametrize(
    ("cls", "settings"),
    [
        (Adam, {"lr": 0.05, "weight_decay": 0.01}),
        (AdamW, {"lr": 0.05}),
        (SGD, {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    ],
)
def test_fused_kernel_by_default_on_the_cpu_gives_the_loops_weights(cls, settings):
    weights = []
    for fused in (True, False):
        model, compute_loss = _problem()
        optimizer = cls(model.parameters(), fused=fused, **settings)
        assert optimizer.defaults["fused"] is fused
        for _ in range(20):
            optimizer.zero_grad(set_to_none=True)
            compute_loss().backward()
            optimizer.step()
        weights.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert cls(_problem()[0].parameters()).defaults["fused"] is True
    torch.testing.assert_close(weights[0], weights[1])


def test_fused_is_left_out_where_torch_has_no_kernel():
    on_meta = torch.nn.Linear(4, 1, device="meta")
    assert Adam(on_meta.parameters()).defaults["fused"] is False
    groups = [{"params": [torch.nn.Parameter(torch.zeros(2))]}, {"params": []}]
    assert fused_fits(groups)
    assert not fused_fits([{"params": []}])


def test_schedule_free_exposes_train_and_eval():
    model, _ = _problem()
    optimizer = AdamWScheduleFree(model.parameters())
    assert AdamWScheduleFree.needs_train_eval
    optimizer.train()
    optimizer.eval()
    assert "train_mode" in optimizer.param_groups[0]


def _lrs(scheduler, optimizer, steps):
    values = []
    for _ in range(steps):
        values.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return values


def _optimizer(lr=1.0):
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)


def test_step_sequence():
    optimizer = _optimizer()
    values = _lrs(Step(optimizer, step_size=2, gamma=0.5), optimizer, 6)
    assert values == pytest.approx([1, 1, 0.5, 0.5, 0.25, 0.25])


def test_multistep_sequence():
    optimizer = _optimizer()
    values = _lrs(MultiStep(optimizer, milestones=(1, 3), gamma=0.1), optimizer, 5)
    assert values == pytest.approx([1, 0.1, 0.1, 0.01, 0.01])


def test_no_schedule_keeps_the_lr():
    optimizer = _optimizer(0.3)
    assert _lrs(NoSchedule(optimizer), optimizer, 4) == pytest.approx([0.3] * 4)


def test_one_cycle_sequence_per_batch_and_per_epoch():
    optimizer = _optimizer()
    scheduler = OneCycle(optimizer, max_lr=1.0, epochs=2, steps_per_epoch=5, pct_start=0.4)
    assert scheduler.step_every_batch and scheduler.total_steps == 10
    values = _lrs(scheduler, optimizer, 10)
    assert values[0] == pytest.approx(1.0 / 25)
    assert max(values) == pytest.approx(1.0, rel=1e-6)
    assert values.index(max(values)) == 3  # the peak at pct_start of the cycle
    assert values[-1] < values[0]
    assert all(a >= b for a, b in zip(values[3:], values[4:], strict=False))

    optimizer = _optimizer()
    per_epoch = OneCycle(optimizer, max_lr=0.5, epochs=4)
    assert not per_epoch.step_every_batch and per_epoch.total_steps == 4
    assert OneCycle(_optimizer(), total_steps=7).total_steps == 7


def test_resuming_a_one_cycle_schedule_with_more_epochs_keeps_its_position_and_new_end():
    from torchstudio.schedulers.one_cycle import OneCycle
    from torchstudio.train.epochs import schedule_state

    def make(epochs):
        optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
        return optimizer, OneCycle(optimizer, max_lr=0.1, epochs=epochs, steps_per_epoch=5)

    optimizer, short = make(2)
    for _ in range(10):  # the whole first schedule: one more step would be refused
        optimizer.step()
        short.step()
    optimizer, longer = make(4)
    longer.load_state_dict(schedule_state(longer.state_dict(), short.state_dict()))
    assert longer.last_epoch == 10 and longer.total_steps == 20
    for _ in range(10):
        optimizer.step()
        longer.step()
    assert longer.last_epoch == 20


def test_a_fused_optimizer_resumed_on_channels_last_weights_continues_as_uninterrupted():
    # torch's fused kernel reads a weight and its state as flat memory: a contiguous state
    # restored beside channels-last weights must take their layout, or steps go wrong.
    def train(resume_at):
        torch.manual_seed(0)
        conv = torch.nn.Conv2d(3, 4, 3).to(memory_format=torch.channels_last)
        optimizer = Adam(conv.parameters(), lr=0.01)
        inputs = torch.randn(2, 3, 8, 8).contiguous(memory_format=torch.channels_last)
        for step in range(4):
            if step == resume_at:
                saved = checkpoints.unpack(
                    checkpoints.pack(
                        {"model": conv.state_dict(), "optimizer": optimizer.state_dict()}
                    )
                )
                conv = torch.nn.Conv2d(3, 4, 3).to(memory_format=torch.channels_last)
                conv.load_state_dict(saved["model"])
                optimizer = Adam(conv.parameters(), lr=0.01)
                optimizer.load_state_dict(saved["optimizer"])
                match_weight_layouts(optimizer)
            optimizer.zero_grad(set_to_none=True)
            conv(inputs).pow(2).sum().backward()
            optimizer.step()
        return conv.weight.detach()

    assert Adam(torch.nn.Linear(2, 2).parameters()).defaults["fused"] is True
    torch.testing.assert_close(train(resume_at=2), train(resume_at=None), rtol=0, atol=0)
