"""pythoninstall: pip into a chosen interpreter, here and on the server, from a local wheel."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from torchstudio.app.runtime.manager import WorkerError, WorkerManager
from torchstudio.pythoninstall import InstallError, InstallRequest, pip_command

pytestmark = pytest.mark.timeout(120)


def build_wheel(folder: Path, version: str) -> Path:
    """A minimal pure-Python wheel of a package `tsdemo` whose VERSION is `version`."""
    dist = f"tsdemo-{version}.dist-info"
    files = {
        "tsdemo/__init__.py": f"VERSION = {version!r}\n",
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: tsdemo\nVersion: {version}\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for name, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{name},sha256={digest.decode()},{len(text.encode())}")
    files[f"{dist}/RECORD"] = "\n".join([*record, f"{dist}/RECORD,,"]) + "\n"
    path = folder / f"tsdemo-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as wheel:
        for name, text in files.items():
            wheel.writestr(name, text)
    return path


def fresh_venv(folder: Path, *versions: str) -> dict[str, str]:
    """A fresh virtual environment (pip from ensurepip, offline) and a folder of wheels."""
    wheels = folder / "wheels"
    wheels.mkdir()
    for version in versions:
        build_wheel(wheels, version)
    subprocess.run([sys.executable, "-m", "venv", str(folder / "venv")], check=True)
    return {"python": str(folder / "venv" / "bin" / "python"), "wheels": str(wheels)}


@pytest.fixture(scope="module")
def target(tmp_path_factory) -> dict[str, str]:
    return fresh_venv(tmp_path_factory.mktemp("install"), "1.0", "2.0")


def imported_version(python: str) -> str:
    code = "import tsdemo; print(tsdemo.VERSION)"
    return subprocess.run([python, "-c", code], capture_output=True, text=True).stdout.strip()


def test_pip_command_for_torch_builds_and_local_wheels():
    command = pip_command(InstallRequest(packages=["numpy"], torch="cpu", python="/py"))
    assert command[:4] == ["/py", "-m", "pip", "install"]
    assert command[command.index("--extra-index-url") + 1] == "https://download.pytorch.org/whl/cpu"
    assert command[-3:] == ["numpy", "torch", "torchvision"]
    command = pip_command(InstallRequest(packages=["x"], find_links=["/w"], no_index=True))
    assert command[0] == sys.executable and "--no-index" in command
    with pytest.raises(InstallError, match="torch build must be one of"):
        InstallRequest.from_json({"torch": "rocm"})
    with pytest.raises(InstallError, match="nothing to install"):
        InstallRequest.from_json({})


async def test_install_streams_output_and_reports_failures(target):
    request = {"packages": ["tsdemo==1.0"], "python": target["python"]}
    request.update(find_links=[target["wheels"]], no_index=True)
    async with WorkerManager() as manager:
        worker = await manager.start_worker("pythoninstall")
        lines: list[str] = []
        manager.subscribe(
            lambda e: (
                lines.append(e.data[1]) if e.kind == "message" and e.data[0] == "output" else None
            )
        )
        result = await worker.request("install", request)
        assert result["lines"] == len(lines) and any("Successfully installed" in x for x in lines)
        assert imported_version(target["python"]) == "1.0"
        with pytest.raises(WorkerError, match="pip could not install .*tsmissing") as failed:
            await worker.request("install", {**request, "packages": ["tsmissing"]})
        assert "No matching distribution found for tsmissing" in str(failed.value)


async def test_install_on_the_server(servers, target):
    request = {"packages": ["tsdemo==2.0"], "python": target["python"], "upgrade": True}
    request.update(find_links=[target["wheels"]], no_index=True)
    async with WorkerManager() as manager:
        worker = await servers.start_worker(manager, "test server", "pythoninstall")
        await worker.request("install", request)
    assert await asyncio.to_thread(imported_version, target["python"]) == "2.0"
