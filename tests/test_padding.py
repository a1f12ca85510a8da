"""Samples of different lengths: the load report, padding in both data modes, the error
without padding (issue 20)."""

import numpy as np
import pytest
import torch
from tests.helpers.training import start_job

from torchstudio.app.runtime.manager import WorkerError, WorkerManager
from torchstudio.data.padding import pad_batch, unstacked_message, varying_tensors, with_extra
from torchstudio.data.settings import DatasetSettings, Padding
from torchstudio.modelbuild import build

pytestmark = pytest.mark.timeout(240)

# Token sequences of 3 to 12 tokens; the class says whether token 1 outnumbers token 2.
TOKENS = """
import torch

g = torch.Generator().manual_seed(0)
train = []
for index in range(300):
    length = 3 + index % 10
    tokens = torch.randint(1, 5, (length,), generator=g)
    train.append((tokens, int((tokens == 1).sum() > (tokens == 2).sum())))
"""

BAG = """
import torch
from torch import nn


class Bag(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(5, 8, padding_idx=0)
        self.out = nn.Linear(8, 2)

    def forward(self, tokens, lengths):
        summed = self.embed(tokens).sum(dim=1)
        return self.out(summed / lengths[:, None].float())


model = Bag()
"""

LOSS = "from torchstudio.loss import CrossEntropy\nloss = CrossEntropy()\n"
ADAM = "import torch\noptimizer = torch.optim.Adam(model.parameters(), lr=0.05)\n"
PADDING = {"tensor": 0, "dim": 0, "value": 0, "extra": "lengths"}


def test_extra_tensors_padding_and_the_words_without_it():
    tokens = np.arange(1, 6)
    padding = Padding(tensor=0, extra="mask", side="left", length=4)
    tokens_out, mask, label = with_extra((tokens, np.asarray(1)), padding)
    assert mask.tolist() == [True] * 5 and int(label) == 1
    assert int(with_extra((tokens,), Padding(tensor=0, extra="lengths", length=3))[1]) == 3
    batch = [[torch.arange(1, 6), torch.arange(1, 3)], [torch.ones(5, dtype=torch.bool),
             torch.ones(2, dtype=torch.bool)]]  # fmt: skip
    padded, padded_mask = pad_batch(batch, padding)
    assert padded.tolist() == [[2, 3, 4, 5], [0, 0, 1, 2]]  # left side: the ends are kept
    assert padded_mask.tolist() == [[True] * 4, [False, False, True, True]]
    longest = pad_batch([[torch.ones(2), torch.ones(3)]], Padding(tensor=0, value=-1.0))[0]
    assert longest.tolist() == [[1, 1, -1], [1, 1, 1]]
    assert unstacked_message([batch[0], torch.zeros(2)], [1, 0]).startswith(
        "tensor 0 varies in shape between samples ([2], [5]), so its samples cannot form a "
        "batch: set the padding of tensor 0"
    )
    shapes = [(np.zeros((2, n)), np.asarray(1)) for n in (4, 9, 6)]
    assert varying_tensors(lambda i: shapes[i], 3) == [
        {"tensor": 0, "dims": [1], "min": [2, 4], "max": [2, 9]}
    ]
    with pytest.raises(ValueError, match="padding side must be one of right, left"):
        DatasetSettings.from_json({"padding": {"tensor": 0, "side": "middle"}})
    with pytest.raises(ValueError, match="padding needs `tensor`"):
        DatasetSettings.from_json({"padding": {"dim": 0}})


@pytest.mark.slow
async def test_variable_length_tokens_train_padded_in_both_modes(tmp_path):
    async with WorkerManager() as manager:
        plain = await start_job(manager, tmp_path / "plain", TOKENS)
        report = await plain.loader.request("load", {"code": TOKENS})
        assert report["varying"] == [{"tensor": 0, "dims": [0], "min": [3], "max": [12]}]
        # Without padding, the model would get a list: the trainer names the tensor.
        built_plain = build(
            {"code": BAG.replace(", lengths", "").replace(" / lengths[:, None].float()", ""),
             "inputs": [torch.ones(1, 5, dtype=torch.long)], "graph": False}
        )["built"]  # fmt: skip
        with pytest.raises(WorkerError, match="tensor 0 varies in shape between samples"):
            await plain.train(built_plain, settings={"loss": [LOSS], "metric": [], "epochs": 1})

        settings = {"padding": PADDING}
        job = await start_job(manager, tmp_path / "padded", TOKENS, dataset_settings=settings)
        report = await job.loader.request("load", {"code": TOKENS, "settings": settings})
        assert [t["shape"] for t in report["tensors"]] == [
            [report["tensors"][0]["shape"][0]],
            [],
            [],
        ]
        assert report["tensors"][1]["dtype"] == "int64"  # the lengths, an input
        assert report["suggestions"]["roles"][-1] == "output"
        sample = await job.loader.request("sample", {"split": "train", "index": 0})
        assert int(sample[1]) == len(sample[0])  # each sample at its own length
        result = build(
            {"code": BAG, "sample": [np.asarray(a)[None] for a in sample],
             "roles": ["input", "input", "output"], "graph": False}
        )  # fmt: skip
        common = {"loss": [LOSS], "metric": [], "optimizer": ADAM, "epochs": 4,
                  "input_ids": [0, 1], "output_ids": [2]}  # fmt: skip
        cached = await job.train(result["built"], settings=common)
        history = cached["history"]
        assert history[-1]["valid_loss"] < history[0]["valid_loss"]
        fresh = await job.train(
            result["built"],
            settings={**common, "data": "fresh", "loader_workers": 0, "epochs": 2},
            dataset={"code": TOKENS, "settings": settings},
        )
        assert fresh["epochs_done"] == 2
        assert fresh["history"][-1]["train_loss"] < history[0]["train_loss"]
