"""datasetload, tensorrender and datasetanalyze as real workers over real sockets."""

import asyncio
import os
import time

import numpy as np
import pytest
import torch
from PIL import Image
from tests.helpers.recording import RecordingManager
from tests.helpers.waiting import next_event

from torchstudio.app.runtime.manager import WorkerError, WorkerManager
from torchstudio.data.handoff import fetch_dataset

pytestmark = pytest.mark.timeout(180)

DIGITS = "from torchstudio.datasets import Digits\ntrain = Digits(train=True)\nvalid = Digits(train=False)\n"

USER_DATASET = '''
import numpy as np
import torch
from PIL import Image

class Shapes:
    """Dict samples with a PIL image, a numpy vector and a label."""
    classes = ["small", "large"]

    def __len__(self):
        return 30

    def __getitem__(self, index):
        size = 4 if index % 2 == 0 else 8
        pixels = np.zeros((8, 8), np.uint8)
        pixels[:size, :size] = 255
        return {"image": Image.fromarray(pixels), "features": np.full(3, index, np.float32),
                "label": index % 2}

train = Shapes()
'''

VARIABLE = """
import torch
train = [(torch.arange(n, dtype=torch.float32), n % 3) for n in range(1, 21)]
"""


@pytest.fixture
def cache_env(tmp_path):
    return {"TORCHSTUDIO_CACHE": str(tmp_path / "cache")}


async def test_load_digits_reports_counts_tensors_and_suggestions(cache_env):
    async with WorkerManager() as manager:
        loader = await manager.start_worker("datasetload", env=cache_env)
        report = await loader.request("load", {"code": DIGITS})
        assert report["train_count"] == 1438 and report["valid_count"] == 359
        assert report["classes"] == [str(i) for i in range(10)]
        assert report["tensors"] == [
            {"shape": [1, 8, 8], "dtype": "float32"},
            {"shape": [], "dtype": "int64"},
        ]
        assert report["suggestions"] == {
            "roles": ["input", "output"],
            "renderers": ["Bitmap", "Labels"],
            "analyzer": "Multiclass",
        }
        image, label = await loader.request("sample", {"split": "valid", "index": 5})
        assert image.shape == (1, 8, 8) and 0 <= int(label) <= 9
        started = time.perf_counter()
        for index in range(50):
            await loader.request("sample", {"split": "train", "index": index})
        per_sample = (time.perf_counter() - started) / 50
        assert per_sample < 0.010, f"a sample took {per_sample * 1000:.1f} ms"


async def test_user_code_dicts_images_and_split_settings(cache_env):
    async with WorkerManager() as manager:
        loader = await manager.start_worker("datasetload", env=cache_env)
        report = await loader.request(
            "load", {"code": USER_DATASET, "settings": {"training_samples": 20, "split": "ordered"}}
        )
        assert (report["train_count"], report["valid_count"]) == (20, 10)
        assert [t["shape"] for t in report["tensors"]] == [[1, 8, 8], [3], []]
        assert report["classes"] == ["small", "large"]
        image, features, label = await loader.request("sample", {"split": "valid", "index": 1})
        assert features.tolist() == [21.0] * 3 and int(label) == 1 and image.max() == 1.0
        report = await loader.request(
            "configure", {"settings": {"shuffle": "all", "seed": 1, "usage_ratio": 0.5}}
        )
        assert (report["train_count"], report["valid_count"]) == (12, 3)


async def test_errors_are_clear_and_the_worker_lives(cache_env):
    async with WorkerManager() as manager:
        loader = await manager.start_worker("datasetload", env=cache_env)
        with pytest.raises(WorkerError, match=r'File "dataset code", line 2'):
            await loader.request("load", {"code": "x = 1\ntrain = [1, 2][5]\n"})
        with pytest.raises(WorkerError, match="must define `train`"):
            await loader.request("load", {"code": "data = 1"})
        with pytest.raises(WorkerError, match="SyntaxError"):
            await loader.request("load", {"code": "train = (\n"})
        with pytest.raises(WorkerError, match=r"sample 0, element \[1\]: cannot convert str"):
            await loader.request("load", {"code": "train = [(1.0, 'cat')] * 4"})
        broken_valid = (
            "class Broken:\n    def __len__(self):\n        return 3\n"
            "    def __getitem__(self, index):\n        raise KeyError('missing file')\n"
            "train = [(1.0, 2)] * 4\nvalid = Broken()\n"
        )
        with pytest.raises(WorkerError, match=r"(?s)line 5, in __getitem__.*KeyError"):
            await loader.request("load", {"code": broken_valid})
        with pytest.raises(WorkerError, match="no dataset is loaded"):
            await loader.request("sample", {"index": 0})
        with pytest.raises(WorkerError, match="shuffle must be one of"):
            await loader.request("load", {"code": DIGITS, "settings": {"shuffle": "maybe"}})
        # Every sample is read for its class label: the one that differs is named at load.
        with pytest.raises(WorkerError, match="sample 10 has 1 tensors but sample 0 has 2"):
            await loader.request(
                "load",
                {
                    "code": "train = [(1.0, 2)] * 10 + [(1.0,)]",
                    "settings": {"split_ratio": 1.0, "split": "ordered"},
                },
            )
        # Without an integer label no sample is read at load: the cache names it.
        await loader.request(
            "load",
            {
                "code": "train = [(1.0, 2.5)] * 10 + [(1.0,)]",
                "settings": {"split_ratio": 1.0, "split": "ordered"},
            },
        )
        with pytest.raises(WorkerError, match="sample 10 has 1 tensors but sample 0 has 2"):
            await loader.request("cache")
        with pytest.raises(WorkerError, match="out of range"):
            await loader.request("sample", {"index": 999})
        assert await loader.request("load", {"code": DIGITS})


async def test_handoff_caches_reuses_invalidates_and_rebuilds(cache_env, tmp_path):
    async with WorkerManager() as manager:
        loader = await manager.start_worker("datasetload", env=cache_env)
        ordered = {"split": "ordered"}
        report = await loader.request("load", {"code": VARIABLE, "settings": ordered})
        link = report["link"]
        entry = await asyncio.to_thread(fetch_dataset, link, str(tmp_path / "other"))
        assert entry.folder.startswith(
            cache_env["TORCHSTUDIO_CACHE"]
        )  # same machine: mapped in place
        train = entry.split("train")
        assert len(train) == 16 and not train.fixed_shapes
        assert train[4][0].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
        mtime = os.path.getmtime(os.path.join(entry.folder, "meta.json"))

        again = await asyncio.to_thread(fetch_dataset, link, str(tmp_path / "other"))
        assert again.folder == entry.folder
        assert os.path.getmtime(os.path.join(again.folder, "meta.json")) == mtime  # reused

        report = await loader.request("configure", {"settings": {"split_ratio": 0.5, **ordered}})
        changed = await asyncio.to_thread(fetch_dataset, report["link"], str(tmp_path / "other"))
        assert changed.key != entry.key and len(changed.split("train")) == 10

        data = os.path.join(changed.folder, "train_0.bin")
        with open(data, "r+b") as file:
            file.write(b"\xff\xff\xff\xff")
        await loader.request(
            "configure", {"settings": {"split_ratio": 0.5, **ordered}}
        )  # forget the entry
        rebuilt = await asyncio.to_thread(fetch_dataset, report["link"], str(tmp_path / "other"))
        assert rebuilt.split("train")[0][0].tolist() == [0.0]


async def test_remote_style_fetch_streams_and_verifies(cache_env, tmp_path, monkeypatch):
    """A worker on another machine cannot see the folder: it downloads into its own cache."""
    from torchstudio.data import handoff

    async with WorkerManager() as manager:
        loader = await manager.start_worker("datasetload", env=cache_env)
        link = (await loader.request("load", {"code": DIGITS}))["link"]
        monkeypatch.setattr(handoff, "_same_entry", lambda folder, meta: False)
        monkeypatch.setattr(handoff, "CHUNK_BYTES", 100_000)  # several chunks per file
        remote_cache = str(tmp_path / "remote")
        entry = await asyncio.to_thread(fetch_dataset, link, remote_cache)
        assert entry.folder.startswith(remote_cache)
        assert len(entry.split("train")) == 1438
        local = await loader.request("sample", {"split": "train", "index": 100})
        assert np.array_equal(entry.split("train")[100][0].numpy(), local[0])
        # A second fetch finds the verified copy and downloads nothing.
        monkeypatch.setattr(handoff, "_download", lambda *a: pytest.fail("downloaded again"))
        assert (await asyncio.to_thread(fetch_dataset, link, remote_cache)).folder == entry.folder


async def test_data_server_refuses_a_wrong_token(cache_env, tmp_path):
    from torchstudio import tcpcodec

    async with WorkerManager() as manager:
        loader = await manager.start_worker("datasetload", env=cache_env)
        link = (await loader.request("load", {"code": DIGITS}))["link"]
        with pytest.raises(tcpcodec.ConnectionClosed):
            await asyncio.to_thread(fetch_dataset, {**link, "token": "wrong"}, str(tmp_path))


async def test_tensorrender_renders_and_reports_errors():
    async with WorkerManager() as manager:
        renderer = await manager.start_worker("tensorrender")
        code = "from torchstudio.renderers import Bitmap\nrenderer = Bitmap()\n"
        tensor = torch.rand(1, 28, 28)
        image = await renderer.request("render", {"code": code, "tensor": tensor, "size": [64, 48]})
        assert isinstance(image, Image.Image) and image.size == (64, 48)
        assert len(np.unique(np.asarray(image.convert("RGB")).reshape(-1, 3), axis=0)) > 1
        labels_code = "from torchstudio.renderers import Labels\nrenderer = Labels()\n"
        image = await renderer.request(
            "render",
            {
                "code": labels_code,
                "tensor": torch.tensor(3),
                "size": [200, 100],
                "labels": list("abcdef"),
                "target_tensor": torch.tensor(3),
            },
        )
        assert image.size == (200, 100)
        with pytest.raises(WorkerError, match='File "renderer code", line 1'):
            await renderer.request(
                "render", {"code": "renderer = 1 / 0", "tensor": tensor, "size": [8, 8]}
            )
        broken = "class R:\n    def render(self, **kw):\n        raise ValueError('no good')\nrenderer = R()\n"
        with pytest.raises(WorkerError, match="ValueError: no good"):
            await renderer.request("render", {"code": broken, "tensor": tensor, "size": [8, 8]})
        assert (
            await renderer.request("render", {"code": code, "tensor": tensor, "size": [8, 8]})
        ).size == (8, 8)


async def test_datasetanalyze_counts_match_and_report_redraws(cache_env):
    async with WorkerManager() as manager:
        loader = await manager.start_worker("datasetload", env=cache_env)
        analyzer = await manager.start_worker("datasetanalyze", env=cache_env)
        report = await loader.request("load", {"code": DIGITS})
        code = "from torchstudio.analyzers import Multiclass\nanalyzer = Multiclass()\n"
        result = await analyzer.request(
            "analyze",
            {
                "code": code,
                "link": report["link"],
                "input_tensors_id": [0],
                "output_tensors_id": [1],
                "size": [400, 300],
            },
        )
        from torchstudio.datasets import Digits

        counts = np.bincount(Digits(train=True).targets.numpy(), minlength=10)
        assert result["state"]["counts"]["training"] == counts.tolist()
        expected = (1 / counts) / (1 / counts).mean()
        assert np.allclose(result["weights"], expected)
        assert result["report"].size == (400, 300) and result["samples"] == 1797
        image = await analyzer.request(
            "report", {"code": code, "state": result["state"], "size": [200, 150]}
        )
        assert image.size == (200, 150)


async def test_datasetanalyze_can_be_cancelled(cache_env):
    slow = (
        "from torchstudio.analyzers import ValuesDistribution\nimport time\n"
        "class Slow(ValuesDistribution):\n"
        "    def analyze_sample(self, sample, training_sample):\n"
        "        time.sleep(0.01)\n"
        "        super().analyze_sample(sample, training_sample)\n"
        "analyzer = Slow()\n"
    )
    async with RecordingManager() as manager:
        loader = await manager.start_worker("datasetload", env=cache_env)
        analyzer = await manager.start_worker("datasetanalyze", env=cache_env)
        link = (await loader.request("load", {"code": DIGITS}))["link"]
        job = asyncio.ensure_future(analyzer.request("analyze", {"code": slow, "link": link}))
        await next_event(manager, analyzer.name, "progress")  # the analysis is under way
        assert await analyzer.request("cancel") is True
        with pytest.raises(WorkerError, match="analysis stopped after"):
            await job
        assert analyzer.alive
