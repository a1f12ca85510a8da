"""Tensor roles follow the model's forward signature and outputs (issue 20)."""

import json

import numpy as np
import pytest
import torch
from tests.helpers.server import run_torchstudio

from torchstudio.app.store.project import Project
from torchstudio.model.package import BuildError
from torchstudio.model.roles import forward_inputs, model_roles, roles_for_outputs
from torchstudio.modelbuild import build

DATASET = """
import torch
from torch.utils.data import TensorDataset

g = torch.Generator().manual_seed(0)
images = torch.randn(240, 1, 4, 4, generator=g)
scalars = torch.randn(240, generator=g)
classes = (images.mean(dim=(1, 2, 3)) > 0).long()
values = 2 * scalars + 0.5
train = TensorDataset(images, scalars, classes, values)
"""

TWO_HEADS = """
import torch
from torch import nn


class TwoHeads(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Linear(16, 8)
        self.classes = nn.Linear(8, 2)
        self.value = nn.Linear(1, 1)

    def forward(self, image, scalar, scale=1.0):
        features = torch.relu(self.body(image.flatten(1)))
        return self.classes(features), self.value(scalar[:, None])[:, 0] * scale


model = TwoHeads()
"""


def sample():
    return [
        np.zeros((1, 1, 4, 4), np.float32),
        np.zeros((1,), np.float32),
        np.zeros((1,), np.int64),
        np.zeros((1,), np.float32),
    ]


def test_forward_signature_and_role_logic():
    class Many(torch.nn.Module):
        def forward(self, *tensors):
            return tensors[0]

    assert forward_inputs(torch.nn.Linear(2, 2)) == 1
    assert forward_inputs(Many()) is None
    suggested = ["input", "input", "input", "output"]
    assert model_roles(suggested, 2, adapt=True) == ["input", "input", "output", "output"]
    assert model_roles(suggested, None, adapt=True) == suggested
    assert roles_for_outputs(["input", "output", "output"], 1) == ["input", "output", "none"]
    with pytest.raises(BuildError) as refused:
        model_roles(suggested, 2, adapt=False)  # the user's roles: explained, not changed
    assert str(refused.value).startswith(
        "the model takes 2 inputs (its forward's parameters without defaults); the dataset's "
        "roles give it 3 (tensors 0, 1, 2)"
    )


def test_build_follows_the_model_and_suggests_a_loss_per_output():
    request = {"code": TWO_HEADS, "sample": sample(), "graph": False}
    report = build({**request, "roles": ["input"] * 3 + ["output"], "adapt_roles": True})
    assert report["roles"] == ["input", "input", "output", "output"]
    assert [s["name"] for s in report["suggestions"]["loss"]] == ["CrossEntropy", "MeanSquareError"]
    assert [s["name"] for s in report["suggestions"]["metric"]] == [
        "Accuracy",
        "MeanAbsoluteError",
    ]
    one_head = TWO_HEADS.replace(
        "return self.classes(features), ", "return self.classes(features)  # "
    )
    report = build(
        {**request, "code": one_head, "roles": ["input"] * 3 + ["output"], "adapt_roles": True}
    )
    assert report["roles"] == ["input", "input", "output", "none"]  # one output: one target
    with pytest.raises(BuildError, match="the dataset's roles give it 3 .tensors 0, 1, 2."):
        build({**request, "roles": ["input"] * 3 + ["output"], "adapt_roles": False})


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_two_input_two_output_model_trains_with_two_suggested_losses(tmp_path):
    (tmp_path / "data.py").write_text(DATASET)
    (tmp_path / "net.py").write_text(TWO_HEADS)
    home, project = tmp_path / "home", tmp_path / "two.tsproj"
    made = run_torchstudio(
        "new", str(project), "--dataset", str(tmp_path / "data.py"),
        "--model", str(tmp_path / "net.py"), home=home,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    done = run_torchstudio("run", str(project), "--epochs", "3", home=home, timeout=200)
    assert done.returncode == 0, done.stderr
    epochs = [json.loads(line) for line in done.stdout.splitlines()[:-1]]
    assert len(epochs) == 3 and epochs[-1]["valid_loss"] < epochs[0]["valid_loss"]
    stored = Project.open(project)
    try:
        assert stored.document("dataset")["roles"] == ["input", "input", "output", "output"]
        losses = stored.model("net")["build"]["suggestions"]["loss"]
        assert [loss["name"] for loss in losses] == ["CrossEntropy", "MeanSquareError"]
    finally:
        stored.close()
