"""Upload the package to `<remote_dir>/packages/<hash>/torchstudio` over SFTP, once per version.

A version is written into a temporary folder and renamed into place when complete, so a
worker never imports half an upload and an interrupted upload is simply redone. Old
versions are removed by `remove_old_versions` (the newest few stay: another app of an
older version may still use one), and `tree_size` says how much the rest take.
"""

from __future__ import annotations

import asyncio
import posixpath
import secrets
from dataclasses import dataclass
from pathlib import Path

import asyncssh

from torchstudio.remote.errors import RemoteError
from torchstudio.remote.package import content_hash, package_files

PARALLEL_FILES = 8


@dataclass(frozen=True)
class Upload:
    folder: str  # what goes on PYTHONPATH on the server
    version: str
    uploaded: bool  # False when the server already had this version


async def upload_package(sftp: asyncssh.SFTPClient, root: Path, packages_dir: str) -> Upload:
    """Make sure the server has this package version; `packages_dir` is an absolute path."""
    files = await asyncio.to_thread(package_files, root)
    version = await asyncio.to_thread(content_hash, root, files)
    folder = posixpath.join(packages_dir, version)
    try:
        if await sftp.exists(posixpath.join(folder, root.name, "__init__.py")):
            return Upload(folder, version, uploaded=False)
        staging = posixpath.join(packages_dir, f".{version}-{secrets.token_hex(4)}")
        await _put_files(sftp, root, files, posixpath.join(staging, root.name))
        try:
            await sftp.rename(staging, folder)
        except asyncssh.SFTPError:
            # Another upload of the same version won the race: use it, drop ours.
            await sftp.rmtree(staging, ignore_errors=True)
            if not await sftp.exists(folder):
                raise
    except (asyncssh.SFTPError, OSError) as exc:
        raise RemoteError(f"uploading the torchstudio package to {folder} failed: {exc}") from exc
    return Upload(folder, version, uploaded=True)


async def _put_files(sftp: asyncssh.SFTPClient, root: Path, files: list[str], target: str) -> None:
    folders = sorted({posixpath.dirname(posixpath.join(target, name)) for name in files})
    for folder in folders:
        await sftp.makedirs(folder, exist_ok=True)
    limit = asyncio.Semaphore(PARALLEL_FILES)

    async def put(name: str) -> None:
        async with limit:
            await sftp.put(str(root / name), posixpath.join(target, name))

    await asyncio.gather(*(put(name) for name in files))


def versions_to_remove(versions: list[tuple[str, float]], keep: int) -> list[str]:
    """Of the versions (name, modification time), those past the newest `keep` (pure)."""
    newest_first = sorted(versions, key=lambda item: item[1], reverse=True)
    return [name for name, _ in newest_first[keep:]]


async def remove_old_versions(
    sftp: asyncssh.SFTPClient, packages_dir: str, current: str, keep: int
) -> list[str]:
    """Remove all but the newest `keep` versions (counting `current`, always kept)."""
    versions = [
        (entry.filename, float(entry.attrs.mtime or 0))
        for entry in await sftp.readdir(packages_dir)
        if entry.filename not in (".", "..", current) and not entry.filename.startswith(".")
    ]
    removed = versions_to_remove(versions, max(0, keep - 1))
    for name in removed:
        await sftp.rmtree(posixpath.join(packages_dir, name), ignore_errors=True)
    return removed


async def tree_size(sftp: asyncssh.SFTPClient, folder: str) -> int:
    """The bytes of every file under `folder`."""
    total = 0
    for entry in await sftp.readdir(folder):
        if entry.filename in (".", ".."):
            continue
        path = posixpath.join(folder, entry.filename)
        if entry.attrs.type == asyncssh.FILEXFER_TYPE_DIRECTORY:
            total += await tree_size(sftp, path)
        else:
            total += int(entry.attrs.size or 0)
    return total
