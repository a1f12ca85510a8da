"""A model exported as a Python project (codeexport.py): its split and samples are the
studio's, it imports only the studio's built-in modules, and a real export of the demo
trains its first epoch to the studio's loss and weights."""

import ast
import importlib.util
import json
import subprocess
import sys

import numpy as np
import pytest
import safetensors.torch
import torch
from PIL import Image
from tests.helpers.server import new_project, run_torchstudio, server_env
from tests.helpers.waiting import eventually

from torchstudio.app.dataset.definition import DatasetDefinition
from torchstudio.app.models.codeexport import ExportError, export_settings, project_files
from torchstudio.app.models.document import ModelDocument, TrainingSettings
from torchstudio.app.store.project import Project
from torchstudio.data.samples import flatten_sample
from torchstudio.data.split import DatasetSettings, split_indices
from torchstudio.model.package import load_state_bytes, model_from_code

# The studio's modules an exported project may import: the built-in modules its code uses.
BUILT_IN = ("datasets", "models", "loss", "metrics", "optim", "schedulers")
LOSS = "from torchstudio.loss.cross_entropy import CrossEntropy\n\nloss = CrossEntropy()\n"


def exported(tmp_path, dataset_code: str, settings: TrainingSettings) -> dict[str, str]:
    document = ModelDocument(
        code="import torch\nmodel = torch.nn.Linear(1, 2)\n", settings=settings
    )
    dataset = DatasetDefinition(code=dataset_code, roles=["input", "output"])
    files = project_files("Net", document, dataset, export_settings(document, dataset))
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    return files


def load_module(path):
    spec = importlib.util.spec_from_file_location(f"exported_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_exported_split_and_samples_are_the_studios(tmp_path):
    files = exported(
        tmp_path, "train = [(float(i), i) for i in range(23)]\n", TrainingSettings(loss=(LOSS,))
    )
    dataset = load_module(tmp_path / "dataset.py")
    for settings in (
        {"shuffle": "none", "split_ratio": 0.8, "split": "ordered"},
        {"shuffle": "train", "seed": 4, "usage_ratio": 0.5},
        {"shuffle": "all", "seed": 2, "training_samples": 7, "split": "random"},
        {"shuffle": "none", "seed": 5, "split_ratio": 0.7, "split": "stratified"},
    ):
        studio = DatasetSettings(**settings)
        dataset.SPLIT.update(
            {
                k: getattr(studio, k)
                for k in (
                    "split_ratio",
                    "split",
                    "training_samples",
                    "shuffle",
                    "seed",
                    "usage_ratio",
                )
            }
        )
        labels = np.arange(23) % 3
        for valid_len, labelled in ((None, None), (None, labels), (9, None)):
            mine, theirs = (
                dataset.split_indices(23, valid_len, labelled),
                split_indices(23, valid_len, studio, labelled),
            )
            assert all(np.array_equal(a, b) for a, b in zip(mine, theirs, strict=True))
    assert dataset.class_labels([(float(i), i % 4) for i in range(9)]).tolist() == [
        i % 4 for i in range(9)
    ]
    samples = [
        (torch.ones(2, 3, dtype=torch.bfloat16), 3),
        {"image": Image.new("RGB", (4, 3), (255, 0, 0)), "label": [1.0, 2.0], "flag": True},
        [np.zeros((2,), np.int16), 0.5],
        Image.new("L", (2, 2)),
    ]
    for sample in samples:
        mine, theirs = dataset.flatten(sample), flatten_sample(sample, 0)
        assert [(a.dtype, a.shape) for a in mine] == [(b.dtype, b.shape) for b in theirs]
        assert all(np.array_equal(a, b) for a, b in zip(mine, theirs, strict=True))
    train, valid = dataset.load_datasets()
    assert len(train) == 23 and valid is None
    # Tidy Python, with no studio import but the built-in modules the chunks name.
    for name, text in files.items():
        assert not [line for line in text.splitlines() if line != line.rstrip()], name
        if name.endswith(".py"):
            compile(text, name, "exec")
            for node in ast.walk(ast.parse(text)):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                    "torchstudio"
                ):
                    assert node.module.split(".")[1] in BUILT_IN, (name, node.module)
    assert "torchstudio" in files["requirements.txt"] and "safetensors" in files["requirements.txt"]


def test_a_model_without_a_loss_is_not_exported(tmp_path):
    with pytest.raises(ExportError, match="the model has no loss yet: build it"):
        exported(tmp_path, "train = []\n", TrainingSettings())


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_the_exported_demo_trains_as_the_studio(tmp_path):
    home = tmp_path / "home"
    project = new_project(tmp_path / "demo.tsproj", home)
    studio = run_torchstudio("run", str(project), "--epochs", "1", home=home, timeout=200)
    assert studio.returncode == 0, studio.stderr
    studio_epoch = json.loads(studio.stdout.splitlines()[0])
    folder = tmp_path / "exported"
    export = run_torchstudio("export-code", str(project), "--model", "MNISTClassifier",
                             "--out", str(folder), home=home)  # fmt: skip
    assert export.returncode == 0, export.stderr
    names = {line.rsplit("/", 1)[-1] for line in export.stdout.splitlines()}
    assert names == {"dataset.py", "model.py", "train.py", "requirements.txt", "README.md"}
    trained = subprocess.run(
        [sys.executable, "train.py", "--epochs", "1", "--device", "cpu", "--out", "out"],
        cwd=folder, capture_output=True, text=True, timeout=200, env=server_env(home),
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    epoch, summary = (json.loads(line) for line in trained.stdout.splitlines())
    assert epoch["epoch"] == 1 and summary["summary"]["best_epoch"] == 1
    for key in ("train_loss", "valid_loss", "valid_metric"):
        assert abs(epoch[key] - studio_epoch[key]) < 1e-4, key
    # Its best weights load into the studio's model, and are the studio's run's.
    stored = Project.open(project)
    code = stored.model("MNISTClassifier")["code"]
    _, studio_best = stored.weights("MNISTClassifier", "best")
    stored.close()
    model = model_from_code(code)
    load_state_bytes(model, (folder / "out" / "best.safetensors").read_bytes())
    theirs = safetensors.torch.load(studio_best)
    # The studio trains convolutions channels-last (the exported loop keeps it plain, to be
    # read): the sums run in another order and Adam carries the rounding on, so the weights
    # agree to about 1e-3 while the losses and the metric above agree to 1e-4.
    for key, value in model.state_dict().items():
        assert torch.allclose(value, theirs[key], atol=1e-2), key
    assert (folder / "out" / "checkpoint.pt").exists()


async def test_the_model_tab_exports_the_python_project(user, demo_file, tmp_path):
    project = Project.open(demo_file)
    document = project.model("MNISTClassifier")
    project.set_model("MNISTClassifier", {**document, "settings": {"loss": [LOSS]}})
    project.close()
    await user.open("/")
    user.find(marker="tab-models").click()
    await user.should_see(marker="export-code-MNISTClassifier")
    user.find(marker="export-code-folder-MNISTClassifier").type(str(tmp_path / "code"))
    user.find(marker="export-code-MNISTClassifier").click()
    await user.should_see("exported the Python project to")
    await eventually(lambda: (tmp_path / "code" / "train.py").exists())
    assert "CrossEntropy()" in (tmp_path / "code" / "train.py").read_text()


def test_the_exported_padding_is_the_studios(tmp_path):
    import torch as torch_

    from torchstudio.data.padding import with_extra
    from torchstudio.data.settings import Padding
    from torchstudio.train.batches import collate_arrays

    exported(tmp_path, "train = []\n", TrainingSettings(loss=(LOSS,)))
    dataset = load_module(tmp_path / "dataset.py")
    sample = (np.arange(1, 6), np.asarray(1))
    for given in (
        {"tensor": 0, "extra": "lengths", "length": 3},
        {"tensor": 0, "extra": "mask", "side": "left", "value": -1.0},
    ):
        dataset.SPLIT["padding"] = given
        padding = Padding(**given)
        mine, theirs = dataset.with_extra(sample), with_extra(sample, padding)
        assert [a.tolist() for a in mine] == [a.tolist() for a in theirs]
        rows = [with_extra((np.arange(1, n), np.asarray(0)), padding) for n in (3, 7)]
        expected = collate_arrays(rows, padding)
        got = dataset.pad(collate_arrays(rows))
        for a, b in zip(got, expected, strict=True):
            assert torch_.equal(a, b)
