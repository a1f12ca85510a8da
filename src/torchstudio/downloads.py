"""Plain words for a download that failed because this machine has no connection.

Pretrained weights (torchvision, timm through the Hugging Face Hub or torch.hub) and dataset
files are fetched by the libraries deep inside the user's code, and fail offline with a raw
`URLError` or a Hub error. This finds, in the exception's chain and frames, what was being
downloaded and where the library looks for it, so the message can say what to copy where.
"""

from __future__ import annotations

import os
import traceback
import urllib.error
from collections.abc import Iterator
from dataclasses import dataclass
from types import FrameType

# Errors of the HTTP clients the libraries use (httpx, requests, huggingface_hub), by class
# name so that this module imports none of them.
_NETWORK_ERROR_NAMES = {
    "ConnectError",
    "ConnectTimeout",
    "NetworkError",
    "ProxyError",
    "LocalEntryNotFoundError",
    "OfflineModeIsEnabled",
}

NO_WEIGHTS = "build without pretrained weights (weights=None, pretrained=False)"


@dataclass(frozen=True)
class Download:
    """What was being fetched (`source`), what to copy (`item`) where, and the other way out."""

    source: str
    item: str
    destination: str
    instead: str


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def is_network_failure(exc: BaseException) -> bool:
    """Whether `exc`, or an error it came from, says the network could not be reached
    (by its type, or in torchvision's own words for a failed download)."""
    for error in _chain(exc):
        if isinstance(error, urllib.error.URLError | ConnectionError | TimeoutError):
            return True
        if any(cls.__name__ in _NETWORK_ERROR_NAMES for cls in type(error).__mro__):
            return True
        text = str(error).lower()
        if "error downloading" in text or "urlopen error" in text:
            return True
    return False


def _hub_cache(cache_dir: object) -> str:
    if cache_dir:
        return os.fspath(cache_dir)  # type: ignore[arg-type]
    home = os.environ.get("HF_HOME", os.path.join("~", ".cache", "huggingface"))
    return os.path.expanduser(os.environ.get("HF_HUB_CACHE", os.path.join(home, "hub")))


def _download_of(frame: FrameType) -> Download | None:
    """The download a library function was making in `frame`, from its arguments."""
    name, values = frame.f_code.co_name, frame.f_locals
    if name == "download_url_to_file" and "url" in values and "dst" in values:
        # torch.hub: pretrained weights of torchvision (and of some timm models)
        return Download(str(values["url"]), "the file", os.fspath(values["dst"]), NO_WEIGHTS)
    if name == "hf_hub_download" and "repo_id" in values:
        folder = "models--" + str(values["repo_id"]).replace("/", "--")
        return Download(
            f"{values.get('filename')} of {values['repo_id']} on the Hugging Face Hub",
            "the Hub's cache folder of the model",
            os.path.join(_hub_cache(values.get("cache_dir")), folder),
            NO_WEIGHTS,
        )
    if name in ("download_url", "download_and_extract_archive") and "url" in values:
        # torchvision.datasets: the archive the dataset downloads into its root
        root = values.get("root") or values.get("download_root")
        filename = values.get("filename") or os.path.basename(str(values["url"]))
        if root is not None:
            path = os.path.join(os.path.expanduser(os.fspath(root)), str(filename))
            instead = "set download=False once the dataset's files are in its root"
            return Download(str(values["url"]), "the file", path, instead)
    return None


def find_download(exc: BaseException) -> Download | None:
    """The outermost download found in the frames of `exc` and of the errors it came from."""
    for error in _chain(exc):
        for frame, _ in traceback.walk_tb(error.__traceback__):
            download = _download_of(frame)
            if download is not None:
                return download
    return None


def explain_download_failure(exc: BaseException) -> str | None:
    """A sentence for a download that failed for want of a connection, else None."""
    if not is_network_failure(exc):
        return None
    download = find_download(exc)
    if download is None:
        return "No connection: a download failed because this machine cannot reach the internet."
    return (
        f"No connection: could not download {download.source}. This machine cannot reach the "
        f"internet: copy {download.item} from a machine that can to {download.destination}, "
        f"or {download.instead}."
    )
