"""modelbuild: build real models, load every built format back, errors, suggestions, worker."""

import io
import json
import pickle
import struct
import sys
import zipfile

import pytest
import torch
from torch import nn

from torchstudio.app.runtime.manager import WorkerError, WorkerManager
from torchstudio.model import BuildError, load_built_model
from torchstudio.model.suggest import suggest_training, target_kind
from torchstudio.modelbuild import build

MNIST = "from torchstudio.models import MNISTClassifier\nmodel = MNISTClassifier()\n"
RESNET = "from torchstudio.models import ResNet\nmodel = ResNet(in_channels=1, num_classes=10)\n"
UNET = "from torchstudio.models import UNet2D\nmodel = UNet2D(in_channels=3, out_channels=1)\n"
TWO_WAY = """\
import torch
from torch import nn


class TwoWay(nn.Module):
    def __init__(self):
        super().__init__()
        self.image = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(),
                                   nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.features = nn.Linear(5, 4)
        self.classes = nn.Linear(8, 3)
        self.value = nn.Linear(8, 1)

    def forward(self, image, features):
        joined = torch.cat([self.image(image), torch.relu(self.features(features))], dim=1)
        return self.classes(joined), self.value(joined)


model = TwoWay()
"""
DIGIT = torch.rand(1, 1, 8, 8)
TWO_INPUTS = [torch.rand(1, 1, 8, 8), torch.rand(1, 5)]
TWO_TARGETS = [torch.tensor([2]), torch.tensor([[0.5]])]


def outputs(model, inputs):
    with torch.no_grad():
        result = model(*[t.clone() for t in inputs])
    return list(result) if isinstance(result, (tuple, list)) else [result]


def same_outputs(first, second, inputs, seed=None):
    if seed is not None:
        torch.manual_seed(seed)
    a = outputs(first, inputs)
    if seed is not None:
        torch.manual_seed(seed)
    b = outputs(second, inputs)
    return len(a) == len(b) and all(
        torch.allclose(x, y, atol=1e-6) for x, y in zip(a, b, strict=True)
    )


def test_mnist_report():
    report = build(
        {
            "code": MNIST,
            "inputs": [DIGIT],
            "outputs": [torch.tensor([3])],
            "labels": list("0123456789"),
        }
    )
    model = load_built_model(report["built"]).eval()
    total = sum(p.numel() for p in model.parameters())
    assert report["parameters"] == {"trainable": total, "total": total}
    assert report["inputs"] == [{"shape": [1, 1, 8, 8], "dtype": "float32"}]
    assert report["outputs"] == [{"shape": [1, 10], "dtype": "float32"}]
    assert report["targets"] == [{"shape": [1], "dtype": "int64"}]
    assert report["warnings"] == []
    assert report["graph"]["tracer"] == "fx" and set(report["graph"]["levels"]) == {"1", "2"}
    assert torch.allclose(
        torch.as_tensor(report["predictions"][0]), outputs(model, [DIGIT])[0], atol=1e-6
    )


def test_trainable_and_total_counts():
    code = MNIST + "for p in model.features.parameters():\n    p.requires_grad = False\n"
    report = build({"code": code, "inputs": [DIGIT]})
    model = load_built_model(report["built"])
    assert report["parameters"]["total"] == sum(p.numel() for p in model.parameters())
    assert report["parameters"]["trainable"] == sum(
        p.numel() for p in model.classifier.parameters()
    )


@pytest.mark.parametrize("mode", ["source", "trace", "script", "package"])
def test_every_mode_loads_back_and_agrees(mode):
    for code, inputs, targets in ((MNIST, [DIGIT], []), (TWO_WAY, TWO_INPUTS, TWO_TARGETS)):
        report = build({"code": code, "inputs": inputs, "outputs": targets, "mode": mode})
        built = report["built"]
        assert built["mode"] == mode
        loaded = load_built_model(built, "cpu")
        assert [p.dtype for p in loaded.parameters()]  # weights came along
        original = load_built_model(build({"code": code, "inputs": inputs})["built"])
        if mode == "trace":
            # A trace keeps the training behaviour: compare in training mode, same dropout draw.
            assert same_outputs(loaded, _with_state(original, loaded), inputs, seed=0)
        else:
            loaded.eval()
            predictions = report["predictions"]
            assert all(
                torch.allclose(a, torch.as_tensor(b), atol=1e-6)
                for a, b in zip(outputs(loaded, inputs), predictions, strict=True)
            )


def _with_state(model, scripted):
    model.load_state_dict(scripted.state_dict())
    return model.train()


def test_trace_warns_about_dropout_and_keeps_buffers():
    report = build({"code": RESNET, "inputs": [DIGIT], "mode": "trace"})
    assert any("BatchNorm2d" in w and "trace" in w for w in report["warnings"])
    source = build({"code": RESNET, "inputs": [DIGIT]})
    model = load_built_model(source["built"])
    # Tracing in training mode must not leave the example's batch statistics in the weights.
    assert torch.equal(model.stem[1].running_mean, torch.zeros(32))


def _safetensors_header(data: bytes) -> dict:
    (length,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8 : 8 + length])


def _forbid_pickle(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("pickle was used")

    for name in ("dump", "dumps", "load", "loads", "Pickler", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    from torch.package import PackageExporter, PackageImporter

    monkeypatch.setattr(PackageExporter, "save_pickle", refuse)
    monkeypatch.setattr(PackageImporter, "load_pickle", refuse)
    monkeypatch.setattr(torch, "save", refuse)
    monkeypatch.setattr(torch, "load", refuse)


def test_source_mode_is_code_plus_safetensors_without_pickle(monkeypatch):
    _forbid_pickle(monkeypatch)
    report = build({"code": TWO_WAY, "inputs": TWO_INPUTS})
    built = report["built"]
    assert set(built) == {"mode", "code", "state"} and built["code"] == TWO_WAY
    header = _safetensors_header(built["state"])
    model = load_built_model(built)
    assert set(header) - {"__metadata__"} == set(model.state_dict())
    assert header["classes.weight"] == {
        "dtype": "F32",
        "shape": [3, 8],
        "data_offsets": header["classes.weight"]["data_offsets"],
    }


def test_tied_weights_survive_source_mode():
    code = (
        "from torch import nn\nmodel = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4))\n"
        "model[1].weight = model[0].weight\n"
    )
    model = load_built_model(build({"code": code, "inputs": [torch.rand(2, 4)]})["built"])
    assert torch.equal(model[0].weight, model[1].weight)


def test_package_interns_local_modules_without_pickle(tmp_path, monkeypatch):
    (tmp_path / "mylayers.py").write_text(
        "from torch import nn\n\nclass Block(nn.Sequential):\n"
        "    def __init__(self):\n        super().__init__(nn.Linear(3, 6), nn.Tanh(), nn.Linear(6, 2))\n"
    )
    code = "from mylayers import Block\nmodel = Block()\n"
    _forbid_pickle(monkeypatch)
    example = torch.rand(2, 3)
    report = build({"code": code, "inputs": [example], "mode": "package", "workdir": str(tmp_path)})
    built = report["built"]
    assert "mylayers" in built["interned"] and "torch.nn" in built["externed"]
    names = zipfile.ZipFile(io.BytesIO(built["archive"])).namelist()
    assert not [n for n in names if n.endswith(".pkl")]
    assert any(n.endswith("weights.safetensors") for n in names)
    # As on a remote trainer: the user's file is gone, the package still loads.
    (tmp_path / "mylayers.py").unlink()
    sys.modules.pop("mylayers", None)
    model = load_built_model(built).eval()
    assert torch.allclose(
        outputs(model, [example])[0], torch.as_tensor(report["predictions"][0]), atol=1e-6
    )


def test_trace_reports_values_frozen_from_the_users_code():
    code = (
        "from torch import nn\nclass Scale(nn.Module):\n    def forward(self, x):\n"
        "        return x * float(x.max())\nmodel = Scale()\n"
    )
    report = build({"code": code, "inputs": [torch.rand(2, 3)], "mode": "trace"})
    assert len(report["warnings"]) == 1
    assert report["warnings"][0].startswith("trace: Converting a tensor to a Python")
    assert report["warnings"][0].endswith('("model code", line 4)')


def test_unet2d_odd_size_matches_its_target_and_packages():
    image = torch.rand(1, 3, 13, 11)
    mask = torch.rand(1, 1, 13, 11)
    report = build({"code": UNET, "inputs": [image], "outputs": [mask], "mode": "package"})
    assert report["outputs"] == [{"shape": [1, 1, 13, 11], "dtype": "float32"}]
    assert report["warnings"] == [] and report["graph"]["tracer"] == "hooks"
    model = load_built_model(report["built"]).eval()
    assert torch.allclose(
        outputs(model, [image])[0], torch.as_tensor(report["predictions"][0]), atol=1e-5
    )
    assert report["suggestions"]["loss"][0]["name"] == "MeanSquareError"


def test_script_mode_reports_what_torchscript_cannot_compile():
    with pytest.raises(BuildError, match="TorchScript cannot compile") as error:
        build({"code": UNET, "inputs": [torch.rand(1, 3, 8, 8)], "mode": "script"})
    assert "choose trace, package or source" in str(error.value)


def test_shape_mismatch_is_a_warning_naming_both_shapes():
    report = build({"code": MNIST, "inputs": [DIGIT], "outputs": [torch.rand(1, 5)]})
    assert report["warnings"] == [
        "output 0 has shape 1×10 (float32) but its target has shape 1×5 (float32)"
    ]
    report = build(
        {"code": MNIST, "inputs": [DIGIT], "outputs": [torch.tensor([1])], "labels": ["a", "b"]}
    )
    assert report["warnings"] == ["output 0 scores 10 classes but the dataset has 2 labels"]
    report = build({"code": TWO_WAY, "inputs": TWO_INPUTS, "outputs": TWO_TARGETS[:1]})
    assert report["warnings"] == ["the model returns 2 outputs but the dataset has 1 targets"]


def test_two_inputs_two_outputs_report():
    report = build(
        {"code": TWO_WAY, "inputs": TWO_INPUTS, "outputs": TWO_TARGETS, "train_count": 500}
    )
    assert report["outputs"] == [
        {"shape": [1, 3], "dtype": "float32"},
        {"shape": [1, 1], "dtype": "float32"},
    ]
    assert report["warnings"] == []
    suggestions = report["suggestions"]
    assert [s["name"] for s in suggestions["loss"]] == ["CrossEntropy", "MeanSquareError"]
    assert [s["name"] for s in suggestions["metric"]] == ["Accuracy", "MeanAbsoluteError"]


def test_syntax_error_names_the_line():
    with pytest.raises(BuildError) as error:
        build({"code": "import torch\nmodel = (\n", "inputs": [DIGIT]})
    assert 'File "model code", line 2' in str(error.value) and "SyntaxError" in str(error.value)


def test_runtime_error_names_the_shapes_and_the_users_line():
    code = (
        "from torch import nn\n\nclass Net(nn.Module):\n    def __init__(self):\n"
        "        super().__init__()\n        self.fc = nn.Linear(10, 2)\n\n"
        "    def forward(self, x):\n        return self.fc(x)\n\nmodel = Net()\n"
    )
    with pytest.raises(BuildError) as error:
        build({"code": code, "inputs": [DIGIT]})
    text = str(error.value)
    assert text.startswith("model failed on inputs of shape 1×1×8×8 (float32):")
    assert 'File "model code", line 9' in text and "return self.fc(x)" in text
    with pytest.raises(
        BuildError, match=r"inputs of shape 1×5 \(float32\) and 1×1×8×8 \(float32\)"
    ):
        build({"code": TWO_WAY, "inputs": [torch.rand(1, 5), DIGIT]})


def test_missing_model_and_wrong_type():
    with pytest.raises(BuildError, match="must define `model`"):
        build({"code": "net = 1\n", "inputs": [DIGIT]})
    with pytest.raises(BuildError, match=r"torch.nn.Module.*builtins.int"):
        build({"code": "model = 42\n", "inputs": [DIGIT]})
    with pytest.raises(BuildError, match="returned a str"):
        build(
            {
                "code": "from torch import nn\nclass M(nn.Module):\n    def forward(self, x):\n"
                "        return 'no'\nmodel = M()\n",
                "inputs": [DIGIT],
            }
        )
    with pytest.raises(BuildError, match="mode must be one of"):
        build({"code": MNIST, "inputs": [DIGIT], "mode": "pickle"})
    with pytest.raises(BuildError, match="unknown built model mode"):
        load_built_model({"mode": "pickle"})


def test_suggestions_for_each_kind_of_target():
    image = torch.rand(1, 1, 8, 8)
    assert target_kind(torch.tensor([3])) == "class_index"
    assert target_kind(torch.tensor([[3]])) == "class_index"
    assert target_kind(torch.tensor([[0.0, 1.0, 1.0, 0.0]])) == "multi_hot"
    assert target_kind(torch.tensor([[0, 1, 1]])) == "multi_hot"
    assert target_kind(torch.tensor([[0.3, 1.5]])) == "regression"
    assert target_kind(torch.tensor([[1]]), torch.rand(1, 1)) == "binary"

    classes = suggest_training([image], [torch.tensor([3])], [torch.rand(1, 10)], train_count=1438)
    assert classes["loss"][0]["code"] == (
        "from torchstudio.loss.cross_entropy import CrossEntropy\n\nloss = CrossEntropy()\n"
    )
    assert classes["metric"][0]["values"] == {"task": "'multiclass'"}
    assert "metric = Accuracy(task='multiclass')" in classes["metric"][0]["code"]
    assert classes["hyperparameters"] == {
        "batch_size": 128,
        "epochs": 50,
        "early_stop_patience": 10,
    }
    assert classes["optimizer"]["name"] == "AdamW" and classes["optimizer"]["values"] == {
        "lr": "0.01"
    }
    scheduler = classes["scheduler"]
    # The schedule follows the trainer's own epochs and steps, whatever batch size is chosen.
    assert scheduler["name"] == "OneCycle"
    assert scheduler["values"]["steps_per_epoch"] == "steps_per_epoch"
    assert (
        "OneCycle(optimizer, epochs=epochs, steps_per_epoch=steps_per_epoch)" in scheduler["code"]
    )

    labels = suggest_training([image], [torch.tensor([[0.0, 1.0, 1.0]])])
    assert labels["loss"][0]["name"] == "BinaryCrossEntropy"
    assert labels["metric"][0]["values"] == {"task": "'multilabel'"}
    assert labels["hyperparameters"]["epochs"] == 20

    regression = suggest_training([image], [torch.rand(1, 2)], train_count=60000)
    assert regression["loss"][0]["name"] == "MeanSquareError"
    metric = regression["metric"][0]["code"]
    assert "from torchmetrics.regression import MeanAbsoluteError" in metric
    assert regression["hyperparameters"]["batch_size"] == 256
    big = suggest_training([torch.rand(1, 3, 1024, 1024)], [torch.rand(1, 1)], train_count=60000)
    assert big["hyperparameters"]["batch_size"] == 2  # 12 MiB samples: 32 MiB batches

    # Every suggested chunk runs and defines its variable, as the trainer will run it.
    model = nn.Linear(2, 2)
    env = {"model": model, "epochs": 50, "steps_per_epoch": 12}
    for chunk in (
        classes["loss"][0],
        classes["metric"][0],
        classes["optimizer"],
        scheduler,
        metric,
    ):
        exec(chunk if isinstance(chunk, str) else chunk["code"], env)
    assert {"loss", "metric", "optimizer", "scheduler"} <= set(env)


@pytest.mark.timeout(60)
async def test_worker_build_round_trip():
    async with WorkerManager() as manager:
        worker = await manager.start_worker("modelbuild")
        report = await worker.request(
            "build",
            {
                "code": TWO_WAY,
                "inputs": TWO_INPUTS,
                "outputs": TWO_TARGETS,
                "labels": ["a", "b", "c"],
            },
        )
        assert report["parameters"]["total"] == 8 * 3 + 3 + 8 + 1 + 5 * 4 + 4 + 4 * 9 + 4
        assert report["graph"]["levels"]["1"]["nodes"][-1]["shape"] == [[1, 3], [1, 1]]
        model = load_built_model(report["built"]).eval()
        assert same_outputs(model, model, TWO_INPUTS)
        predictions = report["predictions"]
        assert all(
            torch.allclose(a, torch.as_tensor(b), atol=1e-6)
            for a, b in zip(outputs(model, TWO_INPUTS), predictions, strict=True)
        )
        with pytest.raises(WorkerError, match="must define `model`"):
            await worker.request("build", {"code": "x = 1", "inputs": [DIGIT]})
        traced = await worker.request("build", {"code": MNIST, "inputs": [DIGIT], "mode": "trace"})
        assert isinstance(load_built_model(traced["built"]), torch.jit.ScriptModule)
