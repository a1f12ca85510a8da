"""timm models in the studio, offline: in the picker with their forms, trained through
`torchstudio run` with pretrained=False, and pretrained weights that cannot be fetched told
in words (timm through the Hugging Face Hub, torchvision through torch.hub).

The runs get a proxy that refuses every connection and empty caches, so nothing is ever
downloaded even on a machine with a connection.
"""

import json

import pytest
from tests.helpers.server import run_torchstudio

from torchstudio.app.catalog import ORIGINS, Catalog
from torchstudio.pythonparse import generate_code, load_library

pytest.importorskip("timm")

DATASET = """
import torch
from sklearn.datasets import load_digits
from torch.utils.data import TensorDataset

digits = load_digits()
images = torch.tensor(digits.images[:, None], dtype=torch.float32) / 16
labels = torch.tensor(digits.target)
train = TensorDataset(images[:256], labels[:256])
valid = TensorDataset(images[256:384], labels[256:384])
"""

MODELS = {
    "tiny": "from timm.models.resnet import test_resnet\n\n"
    "model = test_resnet(num_classes=10, in_chans=1)\n",
    "hub": "import timm\n\nmodel = timm.create_model('test_resnet', pretrained=True, in_chans=1)\n",
}


def offline(tmp_path) -> dict[str, str]:
    """No connection: every HTTP(S) request goes to a closed port; empty weight caches."""
    dead = "http://127.0.0.1:9"
    return {
        "HTTP_PROXY": dead,
        "HTTPS_PROXY": dead,
        "http_proxy": dead,
        "https_proxy": dead,
        "NO_PROXY": "",
        "no_proxy": "",
        "HF_HUB_OFFLINE": "1",  # the Hub's retries would take half a minute otherwise
        "HF_HOME": str(tmp_path / "hf"),
        "TORCH_HOME": str(tmp_path / "torch"),
    }


def test_timm_architectures_are_in_the_picker_with_their_forms(tmp_path):
    library = load_library(tmp_path / "cache")
    timm_models = [m for m in library["models"] if m.origin == "timm"]
    assert len(timm_models) > 1000 and ORIGINS["timm"] == "timm"
    info = next(m for m in timm_models if m.name == "test_resnet")
    assert info.import_path == "timm.models.resnet.test_resnet" and info.is_function
    names = [p.name for p in info.parameters]
    # The builder's own pretrained flag, then its model class's options.
    assert names[0] == "pretrained" and {"num_classes", "in_chans", "drop_rate"} <= set(names)
    code = generate_code(info, {"num_classes": "10", "in_chans": "1", "pretrained": "False"})
    assert code.endswith("model = test_resnet(num_classes=10, in_chans=1)\n")
    namespace: dict = {}
    exec(compile(code, "model", "exec"), namespace)
    assert namespace["model"].get_classifier().out_features == 10
    catalog = Catalog()
    catalog.modules = library
    assert list(catalog.grouped("models")) == ["torchvision", "timm"]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_timm_model_trains_offline_and_pretrained_weights_say_what_to_copy(tmp_path):
    home = tmp_path / "home"
    (tmp_path / "digits.py").write_text(DATASET)
    for name, code in MODELS.items():
        (tmp_path / f"{name}.py").write_text(code)
    project = tmp_path / "timm.tsproj"
    files = [a for name in MODELS for a in ("--model", str(tmp_path / f"{name}.py"))]
    made = run_torchstudio(
        "new", str(project), "--dataset", str(tmp_path / "digits.py"), *files, home=home
    )
    assert made.returncode == 0, made.stderr
    run = ("run", str(project), "--epochs", "1")
    done = run_torchstudio(*run, "--model", "tiny", home=home, env=offline(tmp_path), timeout=240)
    assert done.returncode == 0, done.stderr
    epoch = json.loads(done.stdout.splitlines()[0])
    assert epoch["model"] == "tiny" and epoch["epoch"] == 1 and epoch["train_loss"] > 0
    refused = run_torchstudio(*run, "--model", "hub", home=home, env=offline(tmp_path), timeout=240)
    assert refused.returncode == 1 and refused.stdout == ""
    assert "model 'hub' did not build" in refused.stderr
    assert "No connection: could not download pytorch_model.bin of timm/test_resnet" in (
        refused.stderr
    )
    folder = tmp_path / "hf" / "hub" / "models--timm--test_resnet.r160_in1k"
    assert f"copy the Hub's cache folder of the model from a machine that can to {folder}" in (
        refused.stderr
    )
