"""The package upload: once per content version, never half-done, without the app."""

from __future__ import annotations

import shutil

import pytest

from torchstudio import sshtunnel
from torchstudio.remote.entry import Credentials
from torchstudio.remote.package import package_root
from torchstudio.sshtunnel import SSHSession

pytestmark = pytest.mark.timeout(60)


async def upload_once(entry, known_hosts):
    session = await SSHSession.open(entry, Credentials(), known_hosts)
    try:
        return await session.ensure_package()
    finally:
        await session.close()


async def test_uploads_once_and_again_only_when_changed(sshd, known_hosts, tmp_path, monkeypatch):
    entry = sshd.entry(remote_dir=str(tmp_path / "server-home"))
    first = await upload_once(entry, known_hosts)
    assert first.uploaded and first.folder.startswith(str(tmp_path / "server-home" / "packages"))
    uploaded = tmp_path / "server-home" / "packages" / first.version / "torchstudio"
    assert (uploaded / "worker.py").read_bytes() == (package_root() / "worker.py").read_bytes()
    assert (uploaded / "remote" / "guard.py").exists()
    assert not (uploaded / "app").exists() and not list(uploaded.rglob("__pycache__"))
    assert [p.name for p in (tmp_path / "server-home" / "packages").iterdir()] == [first.version]

    again = await upload_once(entry, known_hosts)
    assert (again.uploaded, again.folder) == (False, first.folder)

    copy = tmp_path / "edited" / "torchstudio"
    shutil.copytree(package_root(), copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "worker.py").write_text((copy / "worker.py").read_text() + "\n# edited\n")
    monkeypatch.setattr(sshtunnel, "package_root", lambda: copy)
    edited = await upload_once(entry, known_hosts)
    assert edited.uploaded and edited.version != first.version
