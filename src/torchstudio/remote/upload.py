"""Upload the package to `<remote_dir>/packages/<hash>/torchstudio` over SFTP, once per version.

A version is written into a temporary folder and renamed into place when complete, so a
worker never imports half an upload and an interrupted upload is simply redone.
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
