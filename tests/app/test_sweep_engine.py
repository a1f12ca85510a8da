"""The sweep engine on objectives whose best region is known (no training: fast)."""

import asyncio
import math

import pytest

from torchstudio.app.sweeps.charts import space_text
from torchstudio.app.sweeps.engine import Sweep, TrialResult, open_study
from torchstudio.app.sweeps.space import (
    DEFAULT_SPACE,
    Dimension,
    SpaceError,
    parse_space,
    suggested_dimension,
    with_form_parameters,
)

SPACE = (
    Dimension("optimizer.lr", 1e-5, 1.0, log=True),
    Dimension("batch_size", choices=(16, 32, 64)),
)
EPOCHS = 6


def final_value(params):
    """Best at lr = 1e-2 and batch size 32; each decade away costs 0.25."""
    return (
        1.0
        - 0.25 * (math.log10(params["optimizer.lr"]) + 2) ** 2
        - (0.0 if params["batch_size"] == 32 else 0.1)
    )


class Objective:
    """Trains a trial epoch by epoch towards its final value; counts epochs and overlap."""

    def __init__(self, stop_after=None, sweep=None):
        self.epochs, self.active, self.most = 0, 0, 0
        self.stop_after, self.sweep, self.started = stop_after, sweep, 0

    async def __call__(self, slot, number, params, report):
        self.active += 1
        self.most = max(self.most, self.active)
        self.started += 1
        try:
            done = 0
            for epoch in range(1, EPOCHS + 1):
                await asyncio.sleep(0)  # another slot's trial may go on meanwhile
                self.epochs += 1
                done = epoch
                if self.stop_after and self.started >= self.stop_after and epoch == 2:
                    await self.sweep.stop()
                    return TrialResult(None, run=number, epochs=done)
                if report(epoch, final_value(params) * (1 - 0.5**epoch), epoch == EPOCHS):
                    break
            return TrialResult(final_value(params), run=number, epochs=done)
        finally:
            self.active -= 1


async def sweep_of(tmp_path, name, trials, parallel, prune=True, **kwargs):
    study = open_study(tmp_path / "sweeps.db", name, "maximize", seed=1)
    if not prune:
        import optuna

        study.pruner = optuna.pruners.NopPruner()
    sweep = Sweep(study, SPACE, trials, parallel)
    objective = Objective(sweep=sweep, **kwargs)
    lines = []
    result = await sweep.run(objective, lines.append)
    return result, objective, lines, study


async def test_finds_the_known_best_region_in_20_trials_and_prunes_bad_ones(tmp_path):
    result, objective, lines, _ = await sweep_of(tmp_path, "m", 20, 2)
    best = result["best"]
    assert abs(math.log10(best["params"]["optimizer.lr"]) + 2) < 0.5, best
    assert best["value"] > 0.85 and result["trials"] == 20 == len(lines)
    assert objective.most == 2  # two at a time
    pruned = [line for line in lines if line["state"] == "pruned"]
    assert pruned and all(line["epochs"] < EPOCHS for line in pruned)  # never at the end
    assert result["pruned"] == len(pruned) and result["complete"] == 20 - len(pruned)
    assert all(final_value(line["params"]) < best["value"] for line in pruned)
    assert set(result["importances"]) == {"optimizer.lr", "batch_size"}
    assert result["importances"]["optimizer.lr"] > result["importances"]["batch_size"]
    # The same trials without pruning run every epoch of every trial.
    _, unpruned, _, _ = await sweep_of(tmp_path, "no pruning", 20, 2, prune=False)
    assert unpruned.epochs == 20 * EPOCHS > objective.epochs


async def test_a_stopped_sweep_resumes_where_it_stopped(tmp_path):
    result, objective, lines, study = await sweep_of(tmp_path, "m", 10, 1, stop_after=4)
    assert objective.started == 4 and len(lines) == 4 and result["trials"] == 3
    cut = lines[-1]
    assert cut["state"] == "fail"
    # Started again (a new process would open the same file): 7 more, the cut one first.
    again, resumed, more, _ = await sweep_of(tmp_path, "m", 10, 2)
    assert len(more) == 7 and again["trials"] == 10 and again["complete"] + again["pruned"] == 10
    assert more[0]["params"] == cut["params"] or more[1]["params"] == cut["params"]


def test_space_files_and_their_errors():
    space = parse_space(
        "[learning_rate]\nlow = 1e-4\nhigh = 0.1\nlog = true\n\n[batch_size]\n"
        "choices = [16, 32]\n\n[epochs]\nlow = 1\nhigh = 4\n",
        "space.toml",
    )
    assert [d.key for d in space] == ["optimizer.lr", "batch_size", "epochs"]
    assert space[0].log and space[2].integer and space[1].choices == (16, 32)
    assert DEFAULT_SPACE[0].key == "optimizer.lr"
    for text, says in [
        ("[batchsize]\nchoices = [1]\n", "unknown setting 'batchsize' (did you mean batch_size?)"),
        ("[epochs]\nlow = 3\nhigh = 1\n", "space.toml [epochs]: low and high must be numbers"),
        ("[learning_rate]\nlow = 0\nhigh = 1\nlog = true\n", "log ranges start above 0"),
        ("[batch_size]\nchoices = []\n", "choices must be a non-empty list"),
        ("[batch_size]\nlow = 1\nhigh = 2\nstep = 1\n", "unknown field(s) step"),
        ("", "the space is empty"),
        ("[x\n", "not valid TOML"),
    ]:
        with pytest.raises(SpaceError, match=__import__("re").escape(says)):
            parse_space(text, "space.toml")


def test_without_optuna_the_message_says_how_to_install_it(monkeypatch, tmp_path):
    from torchstudio.app.sweeps.engine import require_optuna

    monkeypatch.setitem(__import__("sys").modules, "optuna", None)  # as if not installed
    with pytest.raises(ValueError, match=r"pip install 'torchstudio\[sweep\]'"):
        require_optuna()
    with pytest.raises(ValueError, match="sweeps need Optuna"):
        open_study(tmp_path / "s.db", "m", "maximize")


def test_form_parameters_get_a_first_range_from_their_type_and_value():
    channels = suggested_dimension("channels", "int", "32")
    assert (channels.key, channels.low, channels.high, channels.log) == (
        "model.channels",
        8,
        128,
        True,
    )
    assert channels.integer
    dropout = suggested_dimension("dropout", "float", "0.25")
    assert (dropout.low, dropout.high, dropout.log, dropout.integer) == (0.0, 0.5, False, False)
    rate = suggested_dimension("rate", "float", "3.0")
    assert (rate.low, rate.high, rate.log) == (pytest.approx(0.3), pytest.approx(30.0), True)
    assert suggested_dimension("bias", "bool", "True").choices == (True, False)
    assert suggested_dimension("mode", "str", "'mean'").choices == ("mean",)
    assert suggested_dimension("depth", "int", "0").high == 4
    # Each goes through the space's own text and back unchanged.
    chosen = {d.key: d for d in (channels, dropout, rate)}
    space = with_form_parameters(DEFAULT_SPACE, chosen)
    assert parse_space(space_text(space), "the card") == space
    # Picking fewer: the others leave, the training settings and kept ranges stay.
    narrowed = (*space[:2], Dimension("model.channels", 16, 64, integer=True), *space[3:])
    fewer = with_form_parameters(narrowed, {"model.channels": channels})
    assert fewer == (*DEFAULT_SPACE, Dimension("model.channels", 16, 64, integer=True))
    assert parse_space('["model.hidden"]\nchoices = [64, 128]\n', "f")[0].key == "model.hidden"
