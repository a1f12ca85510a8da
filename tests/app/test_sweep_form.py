"""A sweep over a parameter of the model's own form, on real workers and tiny generated data.

The model multiplies its input by its form's `scale` (a fixed number, nothing to learn) and
the target is three times the input: the trial with scale 3 has no loss at all, the others
a loss growing with their distance to 3. The sweep must find it, each trial must train the
model built with its own scale, and adopting the best trial must make it the model's form.
"""

import asyncio

import pytest
from tests.helpers.studios import demo_studio

from torchstudio.app.models.overrides import OverrideError, parse_set
from torchstudio.app.models.overrides import apply as apply_settings
from torchstudio.app.models.runs import Run, code_fingerprint
from torchstudio.app.sweeps.service import SweepService
from torchstudio.app.sweeps.space import parse_space

pytestmark = [pytest.mark.timeout(240), pytest.mark.slow]

SCALED = '''import torch
from torch import nn


class Scaled(nn.Module):
    """Its input times `scale`; an unused weight gives the optimizer something to hold."""

    def __init__(self, scale: float = 1.0):
        super().__init__()
        self.scale = scale
        self.unused = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return x * self.scale + 0 * self.unused
'''
DATA = """import torch

x = torch.linspace(0.5, 1.5, 40).reshape(40, 1)
train = [(x[i], 3 * x[i]) for i in range(0, 40, 2)]
valid = [(x[i], 3 * x[i]) for i in range(1, 40, 2)]
"""
SPACE = parse_space('["model.scale"]\nlow = 0.0\nhigh = 10.0\n', "space.toml")


async def test_a_sweep_over_a_form_parameter_finds_its_best_value(tmp_path):
    async with demo_studio(tmp_path, load=False) as studio:
        folder = tmp_path / "modules" / "models"
        folder.mkdir(parents=True)
        (folder / "scaled.py").write_text(SCALED)
        studio.catalog.scan(tmp_path / "modules")
        studio.dataset.set_code(DATA)
        assert await studio.dataset.load(), studio.dataset.error
        models, project = studio.models, studio.project
        name = models.add("Scaled")
        models.set_setting(name, "device", "cpu")
        models.set_setting(name, "batch_size", "8")

        # A parameter the form does not have is refused before any trial trains.
        document = models.document(name)
        with pytest.raises(OverrideError, match="Scaled has no parameter 'size'"):
            apply_settings(document, studio.catalog, [parse_set("model.size=3")])

        lines = []
        result = await studio.sweeps.run(
            name, 12, 1, SPACE, [parse_set("epochs=1")], lines.append, prune=False
        )
        assert result["trials"] == 12 and len(lines) == 12
        assert result["direction"] == "minimize"  # the suggested metric is an error (MAE)
        best = result["best"]
        found = best["params"]["model.scale"]
        assert abs(found - 3) < 0.5, [(line["params"], line["value"]) for line in lines]
        # Each trial trained the model of its own scale: its run's loss says so.
        runs = {r["number"]: Run.from_record(r) for r in project.runs(name)}
        for line in lines:
            run = runs[line["run"]]
            scale = line["params"]["model.scale"]
            assert run.summary["model_values"] == {"scale": str(scale)}
            expected = sum((3 - scale) ** 2 * float(v) ** 2 for v in _valid_inputs()) / 20
            loss = project.epochs(name, run.number)[-1]["valid_loss"]
            assert loss == pytest.approx(expected, rel=1e-4, abs=1e-6), (scale, loss)

        # "Make these the model's settings": the form's scale becomes the best trial's, the
        # code follows, and the best trial's run is the one whose weights fit the model now.
        studio.sweeps.adopt(name, best["params"])
        document = models.document(name)
        assert document.values["scale"] == repr(found) and f"scale={found!r}" in document.code
        assert runs[best["run"]].code == code_fingerprint(document.code, document.workdir)
        assert models.run_stale(runs[best["run"]]) is None
        other = next(line for line in lines if line["params"]["model.scale"] != found)
        assert "changed since" in models.run_stale(runs[other["run"]])
        # Another trial's run is still interpreted with its own scale: its form values are
        # kept with it, and make its code again.
        assert models.run_fits(runs[other["run"]]) is None
        report = await studio.probes.interpret(name, other["run"])
        scale = other["params"]["model.scale"]
        assert report["kind"] == "regression" and report["count"] == 20
        assert report["mae"] == pytest.approx(abs(3 - scale) * sum(_valid_inputs()) / 20, rel=1e-4)

        # Stop ends a sweep after its trial; the app restarted (a new service) goes on with
        # the same study, from the trials it has, to the number asked.
        def stop_now(record):
            asyncio.ensure_future(studio.sweeps.stop(name))

        given = [parse_set("epochs=1")]
        stopped = await studio.sweeps.run(name, 15, 1, SPACE, given, stop_now, prune=False)
        assert stopped["trials"] == 13 and studio.sweeps.state(name).status == "stopped"
        again = SweepService(models)
        resumed = await again.run(name, 15, 1, SPACE, given, prune=False)
        assert resumed["trials"] == 15 and len(again.state(name).records) == 2
        # The trial under way when Stop came (a run) does not count: it is proposed again,
        # first, when the sweep goes on.
        runs = [Run.from_record(r) for r in project.runs(name)]
        assert len(runs) == 16 and runs[13].model_values == runs[14].model_values
        assert resumed["direction"] == "minimize"


def _valid_inputs():
    step = 1.0 / 39
    return [0.5 + i * step for i in range(1, 40, 2)]
