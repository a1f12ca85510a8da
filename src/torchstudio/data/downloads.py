"""torchvision datasets without a connection: where their files go, and which are present.

A torchvision dataset that cannot download (no network) or finds no data in its `root`
fails deep inside torchvision; `download_help` turns that failure into words: the
dataset, the folder and the file names torchvision expects there. `present_datasets`
tells which torchvision datasets already have their files under a root folder.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from torchstudio.downloads import is_network_failure


def _vision_dataset(exc: BaseException) -> Any | None:
    """The torchvision dataset whose construction raised `exc` (its `self`), if any."""
    try:
        from torchvision.datasets import VisionDataset
    except ImportError:
        return None
    traceback = exc.__traceback__
    found = None
    while traceback is not None:
        candidate = traceback.tb_frame.f_locals.get("self")
        if isinstance(candidate, VisionDataset):
            found = candidate
        traceback = traceback.tb_next
    return found


def expected_files(dataset: Any) -> tuple[str, list[str]]:
    """(folder, file names) torchvision looks for, as far as the dataset class says."""
    root = str(getattr(dataset, "root", "") or ".")
    resources = getattr(type(dataset), "resources", None) or getattr(dataset, "resources", None)
    if resources:
        folder = str(getattr(dataset, "raw_folder", root))
        names = [
            os.path.basename(str(r[0] if isinstance(r, tuple | list) else r)) for r in resources
        ]
        return folder, names
    filename = getattr(dataset, "filename", None)
    if isinstance(filename, str):
        base = getattr(dataset, "base_folder", None)
        extracted = f" (or its extracted folder {base}/)" if isinstance(base, str) else ""
        return root, [filename + extracted]
    return root, []


def download_help(exc: BaseException | None) -> str | None:
    """Words for a torchvision dataset that could not download or found no files."""
    if exc is None:
        return None
    dataset = _vision_dataset(exc)
    if dataset is None:
        return None
    offline = is_network_failure(exc)
    if not offline and "not found" not in str(exc).lower():
        return None
    name = type(dataset).__name__
    folder, names = expected_files(dataset)
    files = ", ".join(names) if names else "the files its documentation names"
    cause = (
        f"{name} could not download its files: this machine has no connection to the internet"
        if offline
        else f"{name} found no data in its root folder {Path(str(dataset.root)).resolve()}"
    )
    return (
        f"{cause}. Put the files torchvision expects in {Path(folder).resolve()}: {files} "
        "(downloaded on another machine, or copied from one that has them), then load again; "
        "files already there are not downloaded again."
    )


# Where torchvision keeps a dataset under its root, when not in a folder of its class name.
_FOLDERS = {
    "CIFAR10": ("cifar-10-batches-py", "cifar-10-python.tar.gz"),
    "CIFAR100": ("cifar-100-python", "cifar-100-python.tar.gz"),
    "SVHN": ("train_32x32.mat", "test_32x32.mat", "extra_32x32.mat"),
    "STL10": ("stl10_binary", "stl10_binary.tar.gz"),
    "Flowers102": ("flowers-102",),
    "Food101": ("food-101",),
    "StanfordCars": ("stanford_cars",),
    "Caltech101": ("caltech101",),
    "Caltech256": ("caltech256",),
    "CelebA": ("celeba",),
    "VOCSegmentation": ("VOCdevkit",),
    "VOCDetection": ("VOCdevkit",),
    "Omniglot": ("omniglot-py",),
    "USPS": ("usps.bz2", "usps.t.bz2"),
    "SEMEION": ("semeion.data",),
    "OxfordIIITPet": ("oxford-iiit-pet",),
    "DTD": ("dtd",),
    "EuroSAT": ("eurosat",),
    "GTSRB": ("gtsrb",),
}


def present_datasets(root: str | os.PathLike[str], names: list[str]) -> list[str]:
    """Which torchvision datasets of `names` have their files under `root`: a folder of the
    dataset's class name (the MNIST family), or the folder or archive torchvision makes.
    A quick look at names, without importing torchvision."""
    base = Path(root)
    try:
        entries = {entry.name.lower() for entry in base.iterdir()}
    except OSError:
        return []
    present = []
    for name in names:
        candidates = {name.lower(), *(folder.lower() for folder in _FOLDERS.get(name, ()))}
        if candidates & entries:
            present.append(name)
    return present
