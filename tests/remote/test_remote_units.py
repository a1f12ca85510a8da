"""The pure parts of remote work: entries, command lines, package hashing, check logic."""

from __future__ import annotations

import shlex
from pathlib import Path

import asyncssh
import pytest

from torchstudio.pythoncheck import REQUIREMENTS, fix_command, meets, package_report, version_tuple
from torchstudio.remote.command import resolve_python, worker_command
from torchstudio.remote.entry import Credentials, ServerEntry
from torchstudio.remote.hostkeys import host_pattern, known_hosts_line
from torchstudio.remote.package import content_hash, package_files, package_root


def test_entry_validation_and_hidden_secrets():
    entry = ServerEntry("gpu", "gpu.example.org", "ana", port=2222, key_file="~/.ssh/id_ed25519")
    assert entry.label == "ana@gpu.example.org:2222"
    assert ServerEntry.from_json(entry.to_json()) == entry
    for bad, match in [({"port": 0}, "between 1 and 65535"), ({"host": "a b"}, "not a host")]:
        with pytest.raises(ValueError, match=match):
            ServerEntry.from_json({**entry.to_json(), **bad})
    assert "hunter2" not in repr(Credentials(password="hunter2", passphrase="hunter2"))


def test_worker_command_is_quoted_and_sets_the_package_path():
    command = worker_command(
        "/opt/my python/bin/python",
        "/home/ana/.torchstudio/packages/abc",
        "torchstudio.modeltrain",
        "127.0.0.1",
        40123,
        {"TORCHSTUDIO_CACHE": "/data/it's here", "PYTHONPATH": "/extra"},
    )
    words = shlex.split(command)
    assert words[:2] == ["exec", "env"]
    assert "PYTHONPATH=/home/ana/.torchstudio/packages/abc:/extra" in words
    assert "TORCHSTUDIO_CACHE=/data/it's here" in words
    python = words.index("/opt/my python/bin/python")
    assert words[python + 1 :] == [
        "-u", "-m", "torchstudio.remote.guard", "-m", "torchstudio.modeltrain",
        "--address", "127.0.0.1", "--port", "40123",
    ]  # fmt: skip
    with pytest.raises(ValueError, match="not a valid environment variable"):
        worker_command("python3", "/p", "m", "127.0.0.1", 1, {"A;rm -rf /": "x"})
    assert resolve_python("~/venv/bin/python", "/home/ana") == "/home/ana/venv/bin/python"
    assert resolve_python("python3", "/home/ana") == "python3"


def test_package_files_and_hash(tmp_path: Path):
    files = package_files(package_root())
    assert "worker.py" in files and "remote/guard.py" in files
    assert not any(f.startswith("app/") or "__pycache__" in f for f in files)
    (tmp_path / "pkg" / "sub").mkdir(parents=True)
    (tmp_path / "pkg" / "a.py").write_text("a = 1\n")
    (tmp_path / "pkg" / "sub" / "b.py").write_text("b = 2\n")
    root = tmp_path / "pkg"
    first = content_hash(root, package_files(root))
    assert content_hash(root, package_files(root)) == first
    (root / "sub" / "b.py").write_text("b = 3\n")
    assert content_hash(root, package_files(root)) != first


def test_known_hosts_lines():
    key = asyncssh.generate_private_key("ssh-ed25519")
    assert host_pattern("h", 22) == "h" and host_pattern("h", 2222) == "[h]:2222"
    line = known_hosts_line("h", 2222, key)
    assert line.startswith("[h]:2222 ssh-ed25519 ") and line.endswith("\n")
    known = asyncssh.import_known_hosts(line)
    assert known.match("h", "", 2222)[0][0].public_data == key.public_data


def test_versions_and_the_fix_command():
    assert version_tuple("2.9.0+cu128") == (2, 9, 0) and version_tuple("1.26rc1") == (1, 26)
    assert meets("2.9.0", "2.9") and meets("2.10", "2.9") and not meets("2.8.1", "2.9")
    torch, vision = REQUIREMENTS[0], REQUIREMENTS[1]
    packages = [package_report(torch, "2.8.0"), package_report(vision, None)]
    assert [p["ok"] for p in packages] == [False, False]
    assert fix_command("/py", packages) == (
        "/py -m pip install --upgrade 'torch>=2.9' 'torchvision>=0.24'"
    )
    assert fix_command("/py", [package_report(torch, "2.9.1")]) is None
