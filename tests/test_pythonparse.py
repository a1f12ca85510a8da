"""pythonparse: every module source, code generation round trips, templates, scan time."""

import json
import os
import runpy
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from torchstudio import pythonparse as pp
from torchstudio.modules import Analyzer, Metric, Renderer, safe_exec
from torchstudio.pythonparse import ParseError


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def library(cache_dir):
    return pp.load_library(cache_dir)


def _find(infos, name, origin=None):
    return next(i for i in infos if i.name == name and (origin is None or i.origin == origin))


def _run(code, **namespace):
    result = safe_exec(code, dict(namespace), description="generated")
    assert result.ok, result.error
    return result.namespace


def test_builtin_modules_are_read_from_source():
    scan = pp.scan_builtin()
    assert set(scan) == set(pp.KINDS)
    model = _find(scan["models"], "MNISTClassifier")
    assert model.origin == "torchstudio"
    assert model.import_path == "torchstudio.models.mnist_classifier.MNISTClassifier"
    assert "adaptive pooling" in model.docstring
    num_classes = model.parameter("num_classes")
    assert (num_classes.annotation, num_classes.default, num_classes.required) == (
        "int",
        "10",
        False,
    )
    assert "class MNISTClassifier" in model.source
    # Helpers (files and classes starting with `_`) are not modules.
    assert not any(i.name in ("UNet", "_Block") for i in scan["models"])
    optimizer = _find(scan["optim"], "SGD")
    assert optimizer.parameter("params").filled_by_studio
    assert optimizer.parameter("params").required
    assert _find(scan["schedulers"], "Step").parameter("optimizer").filled_by_studio
    names = {kind: {i.name for i in infos} for kind, infos in scan.items()}
    assert {"CrossEntropy", "BinaryCrossEntropy", "MeanSquareError"} <= names["loss"]
    assert {"Accuracy", "Precision", "Recall", "FScore"} <= names["metrics"]
    json.dumps(pp.scan_to_json(scan))


def test_user_folder(tmp_path, cache_dir):
    folder = tmp_path / "modules"
    (folder / "loss").mkdir(parents=True)
    (folder / "loss" / "my_loss.py").write_text(
        textwrap.dedent(
            '''
            from torch import nn

            class MyLoss(nn.MSELoss):
                """Squared error, scaled.

                Details.
                    Indented line.
                """

                def __init__(self, scale: float = 2.0, *, eps: "float" = 1e-6, **kwargs):
                    super().__init__()
                    self.scale = scale

            class Derived(MyLoss):
                pass

            class _Helper:
                pass
            '''
        )
    )
    (folder / "loss" / "broken.py").write_text("def broken(:\n")
    (folder / "models").mkdir()
    (folder / "models" / "_private.py").write_text("class Hidden: pass\n")
    errors = []
    scan = pp.scan_all(user_modules_dir=folder, cache_dir=cache_dir, errors=errors)
    user = [i for i in scan["loss"] if i.origin == "user"]
    assert [i.name for i in user] == ["MyLoss", "Derived"]
    loss = user[0]
    assert loss.docstring == "Squared error, scaled.\n\nDetails.\n    Indented line."
    assert [(p.name, p.annotation, p.default, p.keyword_only) for p in loss.parameters] == [
        ("scale", "float", "2.0", False),
        ("eps", '"float"', "1e-6", True),
    ]
    assert loss.var_keyword and loss.path.endswith("my_loss.py")
    assert user[1].parameters == loss.parameters  # inherited __init__ from the same file
    assert not any(i.name == "Hidden" for i in scan["models"])
    assert len(errors) == 1 and "broken.py" in errors[0] and "line 1" in errors[0]
    # A project folder is scanned the same way, with its own origin.
    project = pp.scan_all(
        project_modules_dir=folder, user_modules_dir=tmp_path / "none", cache_dir=cache_dir
    )
    assert {i.name for i in project["loss"] if i.origin == "project"} == {"MyLoss", "Derived"}
    code = pp.generate_code(loss, {"scale": "3"})
    namespace = _run(code)
    assert isinstance(namespace["loss"], torch.nn.Module) and namespace["loss"].scale == 3


def test_library_modules(library):
    datasets = library["datasets"]
    mnist = _find(datasets, "MNIST", "torchvision")
    assert mnist.import_path == "torchvision.datasets.MNIST"
    assert {p.name for p in mnist.parameters if p.filled_by_studio} == {"root", "train", "download"}
    assert mnist.parameter("root").required and mnist.docstring
    assert _find(datasets, "SVHN").parameter("split").filled_by_studio
    resnet = _find(library["models"], "resnet18", "torchvision")
    assert resnet.is_function and resnet.import_path == "torchvision.models.resnet.resnet18"
    assert resnet.parameter("num_classes").default == "1000"  # from the ResNet class
    cross_entropy = _find(library["loss"], "CrossEntropyLoss", "torch")
    assert cross_entropy.import_path == "torch.nn.CrossEntropyLoss"
    assert cross_entropy.parameter("label_smoothing").default == "0.0"
    assert not any(i.name in ("_Loss", "_WeightedLoss") for i in library["loss"])
    adam = _find(library["optim"], "Adam", "torch")
    assert adam.parameter("params").filled_by_studio and adam.parameter("lr").default
    step = _find(library["schedulers"], "StepLR", "torch")
    assert step.parameter("optimizer").filled_by_studio and step.parameter("step_size").required
    assert _find(library["schedulers"], "ReduceLROnPlateau")
    accuracy = _find(library["metrics"], "MulticlassAccuracy", "torchmetrics")
    assert accuracy.import_path == "torchmetrics.classification.MulticlassAccuracy"
    assert accuracy.parameter("average").default == "'macro'"
    assert _find(library["metrics"], "Accuracy", "torchmetrics").parameter("task").required
    assert _find(library["metrics"], "MeanSquaredError", "torchmetrics")
    json.dumps(pp.scan_to_json(library))


def test_code_chunk_is_parsed_without_running_it():
    code = textwrap.dedent(
        '''
        import torch
        raise RuntimeError("this chunk must not run")

        class Net(torch.nn.Module):
            """A net."""
            def __init__(self, width: int = 4, depth=2):
                super().__init__()

        def build_net(width: int, pretrained: bool = False) -> Net:
            """Builder."""
            return Net(width)

        model = Net()
        '''
    )
    infos = pp.parse_code(code, "models")
    assert [(i.name, i.origin, i.is_function) for i in infos] == [
        ("Net", "code", False),
        ("build_net", "code", True),
    ]
    assert infos[0].docstring == "A net." and infos[0].parameter("depth").annotation == ""
    assert infos[1].parameter("width").required
    assert [i.name for i in pp.parse_code(code, "loss")] == ["Net"]  # builders: models only
    with pytest.raises(ValueError, match="kind"):
        pp.parse_code(code, "widgets")


def test_broken_code_chunk_gives_a_clear_error():
    code = "import torch\n\nclass Net(torch.nn.Module):\n    def __init__(self, width=:\n        pass\n"
    with pytest.raises(ParseError) as caught:
        pp.parse_code(code, "models")
    message = str(caught.value)
    assert caught.value.lineno == 4
    assert "line 4" in message and "def __init__(self, width=:" in message
    assert "^" in message.splitlines()[2]
    with pytest.raises(ParseError, match="line 2"):
        pp.parse_code("x = 1\n  y = 2\n", "models")  # an indentation error


def test_generate_code_round_trips():
    builtin = pp.scan_builtin()
    model = _find(builtin["models"], "MNISTClassifier")
    code = pp.generate_code(model, {"num_classes": "5", "channels": "8", "hidden": ""})
    assert "num_classes=5" in code and "hidden" not in code
    namespace = _run(code)
    assert namespace["model"](torch.randn(2, 1, 8, 8)).shape == (2, 5)
    optimizer_code = pp.generate_code(_find(builtin["optim"], "Adam"), {"lr": "1e-2"})
    assert "Adam(model.parameters(), lr=1e-2)" in optimizer_code
    namespace = _run(optimizer_code, model=namespace["model"])
    assert namespace["optimizer"].param_groups[0]["lr"] == 0.01
    scheduler_code = pp.generate_code(_find(builtin["schedulers"], "Step"), {"step_size": "3"})
    namespace = _run(scheduler_code, optimizer=namespace["optimizer"])
    assert namespace["scheduler"].step_size == 3
    metric = _run(pp.generate_code(_find(builtin["metrics"], "FScore"), {"beta": "2"}))
    assert isinstance(metric["metric"], Metric)
    # A value equal to the default is left out; a comment in a value cannot break the call.
    loss_code = pp.generate_code(
        _find(builtin["loss"], "CrossEntropy"),
        {"weights": "[1.0, 2.0]  # from the analyzer", "reduction": "'mean'"},
    )
    assert "reduction" not in loss_code
    assert _run(loss_code)["loss"].weight.tolist() == [1.0, 2.0]


def test_generate_code_for_library_modules(library, tmp_path):
    adam = _find(library["optim"], "Adam", "torch")
    namespace = _run(pp.generate_code(adam, {"lr": "0.5"}), model=torch.nn.Linear(2, 1))
    assert namespace["optimizer"].param_groups[0]["lr"] == 0.5
    step = _find(library["schedulers"], "StepLR", "torch")
    namespace = _run(pp.generate_code(step, {"step_size": "2"}), optimizer=namespace["optimizer"])
    assert namespace["scheduler"].step_size == 2
    resnet = _find(library["models"], "resnet18", "torchvision")
    namespace = _run(pp.generate_code(resnet, {"num_classes": "3"}))
    assert namespace["model"].fc.out_features == 3
    fake = _find(library["datasets"], "FakeData", "torchvision")
    namespace = _run(pp.generate_code(fake, {"size": "4", "image_size": "(1, 8, 8)"}))
    assert len(namespace["train"]) == 4 and "valid" not in namespace
    mnist = pp.generate_code(_find(library["datasets"], "MNIST"), {"root": f"{str(tmp_path)!r}"})
    assert "train = MNIST(root, train=True, download=True)" in mnist
    assert "valid = MNIST(root, train=False, download=True)" in mnist
    svhn = pp.generate_code(_find(library["datasets"], "SVHN"), {})
    assert "split='train'" in svhn and "split='test'" in svhn
    assert "os.path.expanduser('~/.torchstudio/datasets')" in svhn
    metric = _find(library["metrics"], "MulticlassAccuracy")
    assert isinstance(
        _run(pp.generate_code(metric, {"num_classes": "4"}))["metric"], torch.nn.Module
    )


def test_generate_code_for_datasets_with_and_without_splits():
    code = textwrap.dedent(
        """
        import torch
        from torch.utils.data import Dataset

        class Split(Dataset):
            def __init__(self, root: str = "data", train: bool = True, size: int = 3):
                self.items = [train] * size
            def __len__(self):
                return len(self.items)
            def __getitem__(self, index):
                return torch.tensor(float(self.items[index]))

        class Plain(Dataset):
            def __init__(self, size: int = 5):
                self.size = size
            def __len__(self):
                return self.size
            def __getitem__(self, index):
                return torch.zeros(1)
        """
    )
    split, plain = pp.parse_code(code, "datasets")
    namespace = _run(pp.generate_code(split, {"size": "2"}))
    assert namespace["train"].items == [True, True] and namespace["valid"].items == [False] * 2
    assert namespace["root"].endswith(os.path.join(".torchstudio", "datasets"))
    namespace = _run(pp.generate_code(plain, {}))
    assert len(namespace["train"]) == 5 and "valid" not in namespace


def test_bad_values_name_the_parameter():
    model = _find(pp.scan_builtin()["models"], "ResNet")
    with pytest.raises(ParseError) as caught:
        pp.generate_code(model, {"layers": "(2, 2,, 2)"})
    assert caught.value.parameter == "layers"
    assert "'layers'" in str(caught.value) and "(2, 2,, 2)" in str(caught.value)
    with pytest.raises(ParseError, match="no parameter named 'depth'"):
        pp.generate_code(model, {"depth": "3"})
    with pytest.raises(ParseError, match="parameter 'channels'.*'x = 3'"):
        pp.generate_code(model, {"channels": "x = 3"})
    builder = pp.parse_code("def net(width: int, height: int, depth=1):\n    pass\n", "models")[0]
    with pytest.raises(ParseError, match="required parameter.*'width', 'height'"):
        pp.generate_code(builder, {"depth": "2"})


@pytest.mark.parametrize("kind", pp.KINDS)
def test_templates_run_and_define_their_variable(kind):
    expected = {
        "analyzers": Analyzer,
        "datasets": torch.utils.data.Dataset,
        "loss": torch.nn.modules.loss._Loss,
        "metrics": Metric,
        "models": torch.nn.Module,
        "optim": torch.optim.Optimizer,
        "renderers": Renderer,
        "schedulers": torch.optim.lr_scheduler.LRScheduler,
    }[kind]
    code = pp.template(kind)
    assert len(pp.parse_code(code, kind)) == 1
    model = torch.nn.Linear(64, 10)
    namespace = _run(code, model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
    assert isinstance(namespace[pp.VARIABLES[kind]], expected)


def test_templates_work_when_used():
    # The templates are real modules of the package: imported as a user's file would be.
    from torchstudio.templates import analyzers, datasets, loss, metrics, models, renderers

    assert models.model(torch.randn(2, 1, 8, 8)).shape == (2, 10)
    assert renderers.renderer.render("x", torch.rand(3, 4, 5).numpy(), (20, 10)).size == (20, 10)
    assert datasets.train[0][0].shape == (1, 8, 8) and len(datasets.train) == 100
    prediction, target = torch.zeros(4), torch.ones(4)
    assert float(loss.loss(prediction, target)) == pytest.approx(1.0)
    metrics.metric.update(prediction, target)
    assert metrics.metric.compute() == pytest.approx(1.0)
    analyzers.analyzer.analyze_sample(None, True)
    assert analyzers.analyzer.generate_report((60, 20), 100).size == (60, 20)


def test_a_template_is_its_file():
    folder = Path(pp.__file__).with_name("templates")
    for kind in pp.KINDS:
        assert pp.template(kind) == (folder / f"{kind}.py").read_text()
    # The two that need the studio's `model` and `optimizer` run from their files with them.
    model = torch.nn.Linear(3, 1)
    # Named as the package's modules, so coverage counts these runs as theirs.
    optimizer = runpy.run_path(
        str(folder / "optim.py"), {"model": model}, run_name="torchstudio.templates.optim"
    )["optimizer"]
    model(torch.ones(2, 3)).sum().backward()
    before = model.weight.detach().clone()
    optimizer.step()
    assert torch.allclose(model.weight, before - 0.01 * model.weight.grad)
    scheduler = runpy.run_path(
        str(folder / "schedulers.py"),
        {"optimizer": optimizer},
        run_name="torchstudio.templates.schedulers",
    )["scheduler"]
    for _ in range(5):
        optimizer.step()
        scheduler.step()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.005)


def test_scan_time_in_a_fresh_process(tmp_path, cache_dir, library):
    script = (
        "import time; start = time.perf_counter()\n"
        "from torchstudio.pythonparse import scan_all\n"
        f"scan = scan_all(user_modules_dir={str(tmp_path)!r}, cache_dir={str(cache_dir)!r})\n"
        "print(time.perf_counter() - start, sum(len(v) for v in scan.values()))\n"
    )
    start = time.perf_counter()
    output = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    process_seconds = time.perf_counter() - start
    seconds, count = output.split()
    print(f"cold scan: {float(seconds):.2f} s in-process, {process_seconds:.2f} s with start-up")
    assert int(count) > 300
    assert process_seconds < 3.0
