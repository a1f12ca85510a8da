"""Bad datasets through the Dataset service and real workers: each refused with a clear
message, and the demo dataset loads (and trains) again on the same service afterwards."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.helpers.studios import log_lines_with

from torchstudio.app.studio import Studio

pytestmark = [pytest.mark.timeout(240), pytest.mark.asyncio(loop_scope="session")]

GENERIC = (
    "from torchstudio.datasets.genericloader import GenericLoader\n\ntrain = GenericLoader({!r})\n"
)


async def refused(studio: Studio, code: str) -> str:
    """Load `code`, expect a refusal, then check the demo dataset loads again."""
    dataset = studio.dataset
    dataset.set_code(code)
    assert not await dataset.load()
    assert dataset.status == "error"
    message = dataset.error or ""
    dataset.choose_module("torchstudio:Digits")
    assert await dataset.load(), dataset.error
    assert dataset.report["train_count"] > 0
    return message


async def test_a_dataset_with_zero_samples(studio):
    message = await refused(studio, "import torch\n\ntrain = []\n")
    assert "no samples" in message and "`train`" in message and "expected" in message


async def test_samples_of_inconsistent_structure(studio):
    code = (
        "import torch\n\ntrain = [(torch.zeros(3), torch.tensor(1))] * 10 "
        "+ [(torch.zeros(3),)] * 10\n"
    )
    message = await refused(studio, code)
    assert "has 1 tensors but" in message and "has 2" in message, message
    assert "same structure" in message
    assert "sample 0 has 1 tensors but sample 0" not in message  # names two different samples


async def test_a_string_where_a_tensor_is_expected(studio):
    message = await refused(studio, "import torch\n\ntrain = [(torch.zeros(3), 'seven')] * 10\n")
    assert "sample 0, element [1]" in message and "cannot convert str" in message, message
    assert "expected a tensor" in message


async def test_generic_loader_folder_with_no_matching_files(studio, tmp_path):
    (tmp_path / "notes.txt").write_text("not a sample")
    message = await refused(studio, GENERIC.format(str(tmp_path)))
    assert "No files with extensions" in message and str(tmp_path) in message, message
    assert 'File "dataset code", line 3' in message  # the user's line that asked for it


async def test_generic_loader_with_unreadable_images(studio, tmp_path):
    for name in ("cat", "dog"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "001.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated, not an image")
    message = await refused(studio, GENERIC.format(str(tmp_path)))
    assert "Cannot read" in message and "001.png" in message, message


def _cache_files(studio: Studio) -> list[Path]:
    root = Path(studio.pool.env["TORCHSTUDIO_CACHE"])
    return sorted(p for p in root.glob("*/*") if p.suffix not in (".json", ".shapes"))


async def test_a_corrupt_dataset_cache_is_reported_and_rebuilt(studio):
    name = studio.project.model_names()[0]
    studio.training.start(name, epochs=1)  # materialises the dataset cache
    assert (await studio.training.wait(name)).status == "finished"
    files = _cache_files(studio)
    assert files, "the training left no cache entry"
    for path in files:  # flip bytes in the middle: same size, wrong checksum
        data = bytearray(path.read_bytes())
        middle = len(data) // 2
        data[middle : middle + 8] = bytes(b ^ 0xFF for b in data[middle : middle + 8])
        path.write_bytes(bytes(data))
    seen = studio.log.version
    assert await studio.dataset.load(), studio.dataset.error
    studio.training.start(name, epochs=1)
    run = await studio.training.wait(name)
    assert run.status == "finished", run.message  # trained on the rebuilt cache
    lines = await log_lines_with(studio, seen, "was truncated or corrupt")
    assert any("dataset cache" in line and "rebuilt" in line for line in lines), lines
