"""The Servers dialog's pure logic: states from check answers, the environment table, the
entry form, link routes and which uploaded package versions go (no sockets, no browser)."""

from __future__ import annotations

import asyncssh
import pytest

from torchstudio.app.runtime.server_status import (
    EntryForm,
    ServerStatus,
    device_names,
    devices_summary,
    entry_from_form,
    link_route,
    missing_specs,
    report_rows,
    size_text,
    status_of_check,
)
from torchstudio.remote.entry import ServerEntry
from torchstudio.remote.errors import RemoteError
from torchstudio.remote.hostkeys import record_host_key
from torchstudio.remote.upload import versions_to_remove

GPU = {"index": 0, "name": "NVIDIA H200", "memory": 150 * 2**30, "capability": "9.0"}


def report(ok: bool = True, gpus: int = 0) -> dict:
    torch = {"name": "torch", "minimum": "2.9", "version": "2.10.0" if ok else None, "ok": ok}
    numpy = {"name": "numpy", "minimum": "1.26", "version": "1.24.0", "ok": False}
    return {
        "ok": ok,
        "python": {"version": "3.12.1", "minimum": "3.11", "ok": True},
        "packages": [torch] + ([] if ok else [numpy]),
        "devices": {
            "cpu": {"cores": 16, "usable_cores": 8, "machine": "x86_64"},
            "cuda": [{**GPU, "index": i} for i in range(gpus)],
            "mps": False,
            "error": None,
        },
        "missing": [] if ok else ["torch>=2.9 (not installed)", "numpy>=1.26 (found 1.24.0)"],
    }


def test_each_check_answer_gives_its_state():
    unknown = {"status": "unknown_host", "fingerprint": "SHA256:abc", "text": "not known"}
    assert status_of_check(unknown) == ServerStatus("host key unknown", "not known", "SHA256:abc")
    changed = {
        "status": "changed_host_key",
        "fingerprint": "SHA256:new",
        "text": "CHANGED",
        "remove_lines": ["[h]:2222 ssh-ed25519 AAAA"],
    }
    state = status_of_check(changed)
    assert state.kind == "host key changed" and state.remove_lines == ("[h]:2222 ssh-ed25519 AAAA",)
    refused = status_of_check({"status": "error", "text": "cannot reach h:22: Connection refused"})
    assert refused.kind == "unreachable" and "Connection refused" in refused.label
    secret = status_of_check(
        {"status": "error", "text": "the key file k is encrypted: give its passphrase"}
    )
    assert (secret.kind, secret.secret) == ("secret needed", "passphrase")
    ready = status_of_check({"status": "ok", "report": report(gpus=2)}, space=3 * 2**20)
    assert ready.kind == "ready" and ready.space == 3 * 2**20
    assert ready.label == "ready · 2 × NVIDIA H200, 16 CPU cores"
    assert ready.devices == ["cuda:0", "cuda:1", "cpu"]
    missing = status_of_check({"status": "ok", "report": report(ok=False)})
    assert missing.kind == "packages missing" and "numpy>=1.26 (found 1.24.0)" in missing.text


def test_the_environment_table_has_python_packages_and_devices():
    rows = report_rows(report(ok=False, gpus=1))
    assert rows[0] == {"item": "Python", "found": "3.12.1", "needed": ">= 3.11", "state": "ok"}
    assert rows[1]["state"] == "missing" and rows[1]["found"] == "not installed"
    assert rows[2] == {"item": "numpy", "found": "1.24.0", "needed": ">= 1.26", "state": "too old"}
    assert rows[3]["item"] == "cuda:0"
    assert rows[3]["found"] == "NVIDIA H200, 150.0 GiB, compute capability 9.0"
    assert rows[4] == {
        "item": "cpu",
        "found": "16 cores (8 usable), x86_64",
        "needed": "",
        "state": "device",
    }
    assert report_rows(None) == []
    assert missing_specs(report(ok=False)) == ["torch>=2.9", "numpy>=1.26"]
    assert device_names(None) == ["cpu"] and devices_summary(None) == "CPU"


def test_the_form_makes_an_entry_or_names_the_wrong_field():
    form = EntryForm("gpu", " gpu.lab ", "2222", "ana", "key", "~/.ssh/id", "~/venv/bin/python")
    entry = entry_from_form(form)
    assert entry == ServerEntry("gpu", "gpu.lab", "ana", 2222, "~/.ssh/id", "~/venv/bin/python")
    assert EntryForm.of(entry).port == "2222"
    password = entry_from_form(EntryForm("p", "h", "", "u", "password", "ignored"))
    assert password.key_file is None and password.port == 22
    for changes, message in [
        ({"port": "ssh"}, "SSH port: 'ssh' is not a number"),
        ({"key_file": ""}, "key file: give the private key's path"),
        ({"host": "two words"}, "is not a host name"),
        ({"name": " "}, "a server needs a name"),
    ]:
        values = {**form.__dict__, **changes}
        values.pop("errors")
        with pytest.raises(ValueError, match=message):
            entry_from_form(EntryForm(**values))


def test_links_route_and_old_package_versions_go():
    assert link_route(None, None) == "same" and link_route("a", "a") == "same"
    assert link_route(None, "a") == "to_server" and link_route("a", None) == "from_server"
    assert link_route("a", "b") == "through_app"
    versions = [("old", 1.0), ("newer", 3.0), ("oldest", 0.5), ("new", 2.0)]
    assert versions_to_remove(versions, 2) == ["old", "oldest"]
    assert versions_to_remove(versions, 10) == []
    assert size_text(512) == "512 bytes" and size_text(3 * 2**20) == "3.0 MiB"
    assert size_text(None) == "unknown"


async def test_the_desk_keeps_entries_and_secrets_without_connecting(tmp_path):
    from torchstudio.app.runtime.remote_servers import ServerBook, Servers
    from torchstudio.app.runtime.server_desk import ServerDesk

    changes: list[int] = []
    book = ServerBook(str(tmp_path / "servers.json"))
    desk = ServerDesk(Servers(book, known_hosts=str(tmp_path / "kh")), lambda: changes.append(1))
    desk.save(EntryForm("pw", "gpu.lab", "22", "ana", "password"), password="hunter2")
    assert desk.status("pw").kind == "not checked" and changes
    assert "hunter2" not in (tmp_path / "servers.json").read_text()
    # What a restart leaves: the entry, not the password; the dialog asks for it.
    again = ServerDesk(
        Servers(ServerBook(book.path), known_hosts=str(tmp_path / "kh")), lambda: None
    )
    asked = again.status("pw")
    assert (asked.kind, asked.secret) == ("secret needed", "password")
    # A use of the server (a Load, a training) without the password: the dialog asks too.
    key = asyncssh.generate_private_key("ssh-ed25519")
    record_host_key(str(tmp_path / "kh"), "gpu.lab", 22, key)  # no network before the login
    again.statuses["pw"] = ServerStatus("ready")
    with pytest.raises(RemoteError, match=r"give a password .* \(in Servers, from the header"):
        await again.servers.connect("pw")
    assert again.status("pw").kind == "secret needed"
    again.give_secret("pw", "hunter2")
    assert again.status("pw").kind == "not checked"
    assert again.status("elsewhere").text == "not one of your servers"
    assert desk.install_request(["numpy>=2", ""], " /wheels ", no_index=True) == {
        "packages": ["numpy>=2"],
        "upgrade": True,
        "find_links": ["/wheels"],
        "no_index": True,
    }
    with_build = desk.install_request(["torch>=2.9", "torchvision>=0.24", "numpy"], torch="cu128")
    assert with_build == {"packages": ["numpy"], "upgrade": True, "torch": "cu128"}
    with pytest.raises(ValueError, match="torch build must be one of"):
        desk.install_request([], torch="rocm")
    with pytest.raises(ValueError, match="nothing to install"):
        desk.install_request([])
