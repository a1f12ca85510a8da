"""pythoncheck on the server: through the app's API and as a remote worker."""

from __future__ import annotations

import pytest

from torchstudio.app.runtime.manager import WorkerManager

pytestmark = pytest.mark.timeout(90)


def assert_complete(report: dict, python: str) -> None:
    assert report["python"]["executable"] == python and report["python"]["ok"]
    names = {p["name"]: p for p in report["packages"]}
    assert names["torch"]["ok"] and names["torch"]["minimum"] == "2.9"
    assert names["torchvision"]["version"]
    devices = report["devices"]
    assert devices["cpu"]["cores"] >= 1 and isinstance(devices["cuda"], list)
    assert isinstance(devices["mps"], bool)
    assert report["ok"] and report["missing"] == [] and report["fix"] is None


async def test_check_a_server(servers, sshd):
    checked = await servers.check("test server")
    assert checked["status"] == "ok", checked
    assert_complete(checked["report"], sshd.entry().python)
    # The report comes from the uploaded package version.
    assert checked["report"]["torchstudio"].startswith(checked["package"]["folder"])


async def test_pythoncheck_as_a_remote_worker(servers, sshd):
    async with WorkerManager() as manager:
        worker = await servers.start_worker(manager, "test server", "pythoncheck")
        assert_complete(await worker.request("check"), sshd.entry().python)


async def test_a_server_python_that_does_not_exist(servers, sshd):
    servers.add(sshd.entry(name="broken", python="/nowhere/python3"))
    checked = await servers.check("broken")
    assert checked["status"] == "error"
    assert "/nowhere/python3" in checked["text"] and "cannot run the check" in checked["text"]


async def test_pythoncheck_here_as_a_function_and_a_worker():
    import sys

    from torchstudio.pythoncheck import check_environment

    assert_complete(check_environment(), sys.executable)
    async with WorkerManager() as manager:
        worker = await manager.start_worker("pythoncheck")
        assert_complete(await worker.request("check"), sys.executable)
