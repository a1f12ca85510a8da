"""torchvision datasets offline: words naming the root and the files; which are present."""

import socket
import urllib.error
import urllib.request

import pytest

from torchstudio.data.downloads import present_datasets
from torchstudio.datasetload import DatasetError, run_dataset_code


@pytest.fixture
def offline(monkeypatch):
    """No connection, whatever the machine has: every download fails as it would offline."""

    def refuse(*args, **kwargs):
        raise urllib.error.URLError(socket.gaierror(-2, "Name or service not known"))

    monkeypatch.setattr(urllib.request, "urlopen", refuse)


def test_a_download_without_connection_names_the_folder_and_files(tmp_path, offline):
    code = (
        f"from torchvision.datasets import MNIST\ntrain = MNIST({str(tmp_path)!r}, download=True)\n"
    )
    with pytest.raises(DatasetError) as failed:
        run_dataset_code(code)
    text = str(failed.value)
    assert text.startswith(
        "MNIST could not download its files: this machine has no connection to the internet. "
        f"Put the files torchvision expects in {tmp_path / 'MNIST' / 'raw'}: "
        "train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz"
    )
    assert 'File "dataset code", line 2' in text  # the user's line is still shown
    code = f"from torchvision.datasets import CIFAR10\ntrain = CIFAR10({str(tmp_path)!r})\n"
    with pytest.raises(DatasetError, match=r"CIFAR10 found no data in its root folder .*"
                       r"cifar-10-python.tar.gz \(or its extracted folder cifar-10-batches-py/\)"):  # fmt: skip
        run_dataset_code(code)
    with pytest.raises(DatasetError) as other:  # other errors keep their own words
        run_dataset_code("train = [1][3]\n")
    assert "could not download" not in str(other.value)


def test_present_torchvision_datasets(tmp_path):
    (tmp_path / "MNIST" / "raw").mkdir(parents=True)
    (tmp_path / "cifar-10-batches-py").mkdir()
    names = ["MNIST", "FashionMNIST", "CIFAR10", "CIFAR100"]
    assert present_datasets(tmp_path, names) == ["MNIST", "CIFAR10"]
    assert present_datasets(tmp_path / "missing", names) == []
