"""Device and precision choices on this machine (a CPU only): what works, and what is refused
with a message that says why. The CUDA branches run where a GPU is lent (see the README)."""

import pytest
import torch

from torchstudio.train.device import DeviceError, select_device, setup_precision


def test_the_cpu_is_chosen_and_other_devices_are_refused_in_words():
    assert select_device("cpu") == torch.device("cpu")
    refusals = {
        "gpu": "unknown device 'gpu': expected cpu, cuda, cuda:N or mps",
        "meta": "unsupported device 'meta'",
    }
    if not torch.cuda.is_available():
        refusals["cuda:1"] = "CUDA is not available on this machine"
    if not torch.backends.mps.is_available():
        refusals["mps"] = "MPS is not available on this machine"
    for name, message in refusals.items():
        with pytest.raises(DeviceError, match=message):
            select_device(name)


def test_precisions_on_the_cpu():
    cpu = torch.device("cpu")
    assert setup_precision("fp32", cpu).scaler is None
    with setup_precision("fp32", cpu).autocast():
        assert not torch.is_autocast_enabled("cpu")
    bf16 = setup_precision("bf16", cpu)
    with bf16.autocast():
        assert torch.is_autocast_enabled("cpu")
        assert torch.mm(torch.ones(2, 2), torch.ones(2, 2)).dtype == torch.bfloat16
    with pytest.raises(DeviceError, match="tf32 precision needs a CUDA GPU"):
        setup_precision("tf32", cpu)
    with pytest.raises(DeviceError, match="fp16 training needs a GPU; use bf16 on the CPU"):
        setup_precision("fp16", cpu)
