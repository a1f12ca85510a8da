"""A sweep in the app on real trainers: trials as runs, two at a time, the best adopted."""

import pytest
from tests.helpers.server import run_torchstudio

from torchstudio.app.models.overrides import parse_set
from torchstudio.app.sweeps.service import study_path
from torchstudio.app.sweeps.space import parse_space

pytestmark = [pytest.mark.timeout(240), pytest.mark.slow]

SPACE = parse_space(
    "[learning_rate]\nlow = 1e-3\nhigh = 3e-2\nlog = true\n\n[batch_size]\nchoices = [32, 64]\n",
    "space.toml",
)


async def test_a_sweep_trains_each_trial_as_a_run_and_its_best_becomes_the_settings(studio):
    project, sweeps = studio.project, studio.sweeps
    name = project.model_names()[0]
    lines = []
    result = await sweeps.run(name, 3, 2, SPACE, [parse_set("epochs=1")], lines.append)
    assert [line["state"] for line in lines] == ["complete"] * 3
    assert result["trials"] == result["complete"] == 3 and result["direction"] == "maximize"
    runs = {r["number"]: r for r in project.runs(name)}
    assert sorted(runs) == sorted(line["run"] for line in lines) == [1, 2, 3]
    for line in lines:  # each trial is a run with its settings, named after the trial
        run = runs[line["run"]]
        assert run["summary"]["name"] == f"sweep trial {line['trial']}"
        assert run["settings"]["batch_size"] == line["params"]["batch_size"]
        assert f"lr={line['params']['optimizer.lr']!r}" in run["settings"]["optimizer"]
        assert run["settings"]["epochs"] == 1 and run["status"] == "finished"
        assert line["value"] == pytest.approx(run["summary"]["best_metric"])
    best = result["best"]
    assert best["value"] == max(line["value"] for line in lines)
    assert set(result["importances"]) == {"optimizer.lr", "batch_size"}
    assert study_path(project.path).is_file() and sweeps.state(name).status == "finished"
    # After a restart the page reads the study back from its file.
    stored = sweeps.results(name)
    assert stored["best"] == best and len(stored["records"]) == 3
    assert [d["key"] for d in stored["space"]] == ["optimizer.lr", "batch_size"]
    sweeps.adopt(name, best["params"])
    effective = studio.models.effective(name)
    assert effective["batch_size"] == best["params"]["batch_size"]
    assert f"lr={best['params']['optimizer.lr']:.6g}"[:8] in effective["optimizer"]


def test_sweep_command_line_errors(tmp_path):
    space = tmp_path / "space.toml"
    space.write_text("[batchsize]\nchoices = [1]\n")
    home = tmp_path / "home"
    bad = run_torchstudio(
        "sweep", str(tmp_path / "x.tsproj"), "--model", "m", "--trials", "2", "--space",
        str(space), home=home,
    )  # fmt: skip
    assert bad.returncode == 2
    assert f"{space} [batchsize]: unknown setting 'batchsize'" in bad.stderr
    none = run_torchstudio("sweep", "x.tsproj", "--model", "m", "--trials", "0", home=home)
    assert none.returncode == 2 and "--trials and --parallel must be at least 1" in none.stderr
