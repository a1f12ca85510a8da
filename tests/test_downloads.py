"""Downloads that fail for want of a connection, told in words (downloads.py): the real
torch.hub and torchvision download functions pointed at a closed port on this machine."""

import urllib.error
import urllib.request

import pytest
import torch.hub
from torchvision.datasets.utils import download_url

from torchstudio.downloads import explain_download_failure, is_network_failure
from torchstudio.modules import safe_exec

CLOSED = "http://127.0.0.1:9"  # the discard port: nothing listens there, the connection is refused


def failure(call) -> BaseException:
    with pytest.raises(Exception) as caught:
        call()
    return caught.value


def test_torch_hub_weights_name_the_file_and_where_it_goes(tmp_path):
    (tmp_path / "checkpoints").mkdir()  # torch.hub makes it before downloading
    destination = tmp_path / "checkpoints" / "resnet18-f37072fd.pth"
    url = f"{CLOSED}/models/resnet18-f37072fd.pth"
    error = failure(lambda: torch.hub.download_url_to_file(url, str(destination)))
    assert isinstance(error, urllib.error.URLError) and is_network_failure(error)
    assert explain_download_failure(error) == (
        f"No connection: could not download {url}. This machine cannot reach the internet: "
        f"copy the file from a machine that can to {destination}, or build without "
        "pretrained weights (weights=None, pretrained=False)."
    )


def test_a_dataset_archive_names_its_root_and_the_error_reaches_the_user(tmp_path):
    code = (
        "from torchvision.datasets.utils import download_url\n"
        f"download_url({CLOSED + '/mnist.gz'!r}, {str(tmp_path)!r})\n"
    )
    result = safe_exec(code, description="dataset code")
    assert result.error is not None and "dataset code" in result.error
    assert f"copy the file from a machine that can to {tmp_path / 'mnist.gz'}" in result.error
    assert "set download=False once the dataset's files are in its root" in result.error
    error = failure(lambda: download_url(f"{CLOSED}/x.tar", str(tmp_path), filename="y.tar"))
    assert f"to {tmp_path / 'y.tar'}" in explain_download_failure(error)


def test_other_errors_get_no_connection_sentence():
    assert explain_download_failure(ValueError("bad shape")) is None
    assert explain_download_failure(FileNotFoundError("no such file")) is None
    unnamed = failure(lambda: urllib.request.urlopen(CLOSED, timeout=5))
    assert explain_download_failure(unnamed) == (
        "No connection: a download failed because this machine cannot reach the internet."
    )


def test_torchvisions_own_words_for_a_failed_download_read_as_offline():
    # torchvision's MNIST wraps each mirror's failure in a RuntimeError of its own wording.
    wrapped = RuntimeError("Error downloading train-images-idx3-ubyte.gz")
    assert is_network_failure(wrapped)
    try:
        raise RuntimeError("all mirrors failed") from RuntimeError("<urlopen error [Errno 111]>")
    except RuntimeError as chained:
        assert is_network_failure(chained)
    assert not is_network_failure(RuntimeError("downloading is not needed"))


def test_torchvision_pretrained_weights_offline_in_the_users_model_code(tmp_path, monkeypatch):
    # A fresh opener reads the proxy below; every request then meets the closed port.
    monkeypatch.setattr(urllib.request, "_opener", None)
    for variable in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.setenv(variable, CLOSED)
    monkeypatch.setenv("NO_PROXY", "")
    monkeypatch.setenv("no_proxy", "")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    code = "from torchvision.models import resnet18\n\nmodel = resnet18(weights='DEFAULT')\n"
    error = safe_exec(code, description="model code").error
    assert error is not None and 'File "model code", line 3' in error
    checkpoint = tmp_path / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    assert "could not download https://download.pytorch.org/models/resnet18-f37072fd.pth" in error
    assert f"copy the file from a machine that can to {checkpoint}, or build without" in error
