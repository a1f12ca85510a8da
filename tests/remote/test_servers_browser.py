"""Remote servers from the browser alone, against the real sshd on 127.0.0.1.

One flow, in the order a person follows it: a changed host key refused, then accepted
once the old line is gone; an encrypted-key server checked ready; a password server whose
bare Python misses packages gets a wheel installed by pip through the dialog; the demo
dataset loads on the server and a sample shows; the model trains there two epochs with
its curves; the SSH session's process is killed mid-training and the model says
"connection lost"; Reconnect, Load, Resume, and the run ends.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import asyncssh
import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from tests.helpers.browser import ARTIFACTS
from tests.remote.test_pythoninstall import build_wheel

from torchstudio.app.store.project import Project
from torchstudio.remote.hostkeys import record_host_key

pytestmark = [
    pytest.mark.browser,
    pytest.mark.sshd,
    pytest.mark.slow,
    pytest.mark.timeout(600),
]

CHART_POINTS = """(cls) => [...document.querySelectorAll('.' + cls)].map((el) => {
  const option = getElement(el).chart && getElement(el).chart.getOption();
  return option && option.series ? option.series.map((s) => (s.data || []).length) : [];
})"""
TRAIN_SAMPLES = "1438 training samples"
MODEL = "MNISTClassifier"


@pytest.fixture(scope="module", autouse=True)
def known_hosts(tmp_path_factory):
    """The app's known_hosts, a file of the test's (the app server inherits the variable)."""
    path = tmp_path_factory.mktemp("hosts") / "known_hosts"
    os.environ["TORCHSTUDIO_KNOWN_HOSTS"] = str(path)
    yield path
    os.environ.pop("TORCHSTUDIO_KNOWN_HOSTS", None)


@pytest.fixture(scope="module")
def password_home(sshd):
    """The password user's bare venv (pip only) and a wheel in a folder it can read."""
    if sshd.password_user is None:
        pytest.skip("password logins need a test user, which only root can create")
    home = Path(f"/home/{sshd.password_user}")
    shutil.rmtree(home / "tsvenv", ignore_errors=True)
    shutil.rmtree(home / "wheels", ignore_errors=True)
    (home / "wheels").mkdir()
    build_wheel(home / "wheels", "1.0")
    subprocess.run(["chown", "-R", sshd.password_user, str(home / "wheels")], check=True)
    command = "/usr/bin/python3 -m venv ~/tsvenv"
    subprocess.run(["su", sshd.password_user, "-s", "/bin/sh", "-c", command], check=True)
    yield home
    shutil.rmtree(home / ".torchstudio", ignore_errors=True)


def row(page, name):
    return page.locator(f"[data-ts=server-row][data-name='{name}']")


def wait_state(page, name, state, timeout=120_000):
    row(page, name).locator(f"[data-ts=server-state]:text-is('{state}')").wait_for(timeout=timeout)


def wait_text(page, kind, pattern, timeout=120_000):
    try:
        page.wait_for_function(
            """([kind, pattern]) => [...document.querySelectorAll(`[data-ts=${kind}]`)]
                 .some((el) => el.offsetParent && new RegExp(pattern).test(el.innerText))""",
            arg=[kind, pattern],
            timeout=timeout,
        )
    except PlaywrightTimeout:
        shown = page.locator(f"[data-ts={kind}]").all_inner_texts()
        errors = page.locator("[data-ts=train-error]").all_inner_texts()
        raise AssertionError(f"no {kind} matching {pattern!r}: {shown} {errors}") from None


def add_server(page, **fields):
    page.locator("[data-ts=server-add]").click()
    form = page.locator("[data-ts=server-form]")
    if fields.pop("login") == "password":
        form.locator("[data-ts=server-login]").get_by_text("password", exact=True).click()
    for kind, value in fields.items():
        form.locator(f"[data-ts=server-{kind}]").first.fill(str(value))
    form.locator("[data-ts=server-save]").click()
    form.wait_for(state="detached")


def choose(page, kind, option):
    page.locator(f"[data-ts={kind}]:visible").first.click()
    page.get_by_role("option", name=option).first.click()


def set_field(page, label, value):
    field = page.get_by_label(label, exact=True).locator("visible=true").first
    field.fill(str(value))
    field.press("Enter")
    field.blur()


def epochs_of(project_path):
    project = Project.open(project_path)
    try:
        return [e["epoch"] for e in project.epochs(MODEL)]
    finally:
        project.close()


def remote_workers(folder: Path) -> list[str]:
    """The torchstudio workers running from the package uploaded into `folder`."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            environ = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if str(folder) in environ and "torchstudio.remote.guard" not in command:
            found.append(command)
    return found


def end_ssh_sessions(sshd) -> int:
    """Kill the sshd processes serving the app's connections (not the listening sshd)."""
    main = int((sshd.folder / "sshd.pid").read_text())
    children: dict[int, list[int]] = {}
    names: dict[int, str] = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(pid))
        names[int(pid)] = stat.split("(", 1)[1].rsplit(")", 1)[0]
    killed, queue = 0, list(children.get(main, []))
    while queue:
        pid = queue.pop()
        queue += children.get(pid, [])
        if names.get(pid) == "sshd":
            os.kill(pid, signal.SIGKILL)
            killed += 1
    return killed


def test_servers_from_the_browser(server, page, shot, sshd, known_hosts, password_home):
    remote_home = sshd.folder / "ui-home"
    page.goto(server.url)
    page.locator("[data-ts=servers-open]").click()

    # This machine's Python, checked like a server's.
    row(page, "this machine").locator("[data-ts=server-check]").click()
    wait_state(page, "this machine", "ready")
    assert "torch" in row(page, "this machine").locator("[data-ts=server-report]").inner_text()

    # A server whose recorded key is another one: refused, with the line to remove.
    stale = asyncssh.generate_private_key("ssh-ed25519")
    record_host_key(str(known_hosts), sshd.host, sshd.port, stale)
    add_server(
        page,
        login="key",
        name="gpu",
        host=sshd.host,
        port=sshd.port,
        user=sshd.user,
        key=sshd.encrypted_key_file,
        passphrase=sshd.passphrase,
        python=sys.executable,
        folder=remote_home,
    )
    wait_state(page, "gpu", "not checked")
    row(page, "gpu").locator("[data-ts=server-check]").click()
    wait_state(page, "gpu", "host key changed")
    stale_key = stale.export_public_key("openssh").decode().split()[1]
    assert stale_key in row(page, "gpu").locator("[data-ts=server-remove-line]").inner_text()
    assert "Accept" not in row(page, "gpu").inner_text()

    # The user removes the old line; the server's key is unknown now: compare, accept.
    known_hosts.write_text("")
    row(page, "gpu").locator("[data-ts=server-check]").click()
    wait_state(page, "gpu", "host key unknown")
    shown = row(page, "gpu").locator("[data-ts=server-fingerprint]").inner_text()
    assert shown == sshd.host_key.get_fingerprint("sha256")
    row(page, "gpu").locator("[data-ts=server-accept]").click()
    wait_state(page, "gpu", "ready")
    assert stale_key not in known_hosts.read_text() and len(known_hosts.read_text()) > 50
    report = row(page, "gpu").locator("[data-ts=server-report]").inner_text()
    assert "scikit-learn" in report and "cpu" in report
    assert "uploaded TorchStudio packages" in row(page, "gpu").inner_text()

    # A password server with a bare Python: packages missing; Install a wheel there.
    add_server(
        page,
        login="password",
        name="pw",
        host=sshd.host,
        port=sshd.port,
        user=sshd.password_user,
        password=sshd.password,
        python="~/tsvenv/bin/python",
    )
    row(page, "pw").locator("[data-ts=server-check]").click()
    wait_state(page, "pw", "packages missing")
    pw = row(page, "pw")
    assert "not installed" in pw.locator("[data-ts=server-report]").inner_text()
    pw.locator("[data-ts=install-packages]").first.fill("tsdemo==1.0")
    pw.locator("[data-ts=install-links]").first.fill(str(password_home / "wheels"))
    pw.locator("[data-ts=install-offline]").first.click()
    pw.locator("[data-ts=install]").click()
    wait_text(page, "install-state", r"^done: installed")
    assert (
        "Successfully installed tsdemo-1.0" in pw.locator("[data-ts=install-output]").inner_text()
    )
    wait_state(page, "pw", "packages missing")  # checked again: torch is still missing there
    assert pw.locator("[data-ts=install]").is_enabled()  # ready for another install
    assert not pw.locator("[data-ts=install-cancel]").is_visible()
    shot("servers-dialog")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)  # the README's picture (docs/)
    page.locator("[data-ts=servers-dialog]").screenshot(path=str(ARTIFACTS / "servers.png"))
    page.keyboard.press("Escape")

    # The dataset loads on the server; a sample shows.
    choose(page, "dataset-server", "gpu")
    page.get_by_role("button", name="Load", exact=True).click()
    wait_text(page, "load-status", r"^loaded$")
    page.get_by_text(TRAIN_SAMPLES, exact=True).wait_for()
    page.wait_for_function(
        "() => { const i = document.querySelector(\"img[data-ts='sample-0']\");"
        " return i && i.complete && i.naturalWidth > 0; }"
    )
    assert any("torchstudio.datasetload" in c for c in remote_workers(remote_home))

    # The model trains there: two epochs, curves drawn.
    page.get_by_role("tab", name="Models").click()
    choose(page, "placement-server", "gpu (cpu)")
    set_field(page, "epochs", 2)
    page.get_by_role("button", name="Train", exact=True).click()
    wait_text(page, "train-status", r"^finished", timeout=240_000)
    page.wait_for_function(
        "(cls) => (" + CHART_POINTS + ")(cls).every((s) => s.length && Math.min(...s) >= 2)",
        arg="ts-curves",
    )
    assert any("torchstudio.modeltrain" in c for c in remote_workers(remote_home))
    shot("trained-on-server")

    # Resumed for many epochs, the SSH session dies under it: "connection lost".
    set_field(page, "epochs", 500)
    page.get_by_role("button", name="Resume", exact=True).click()
    wait_text(page, "train-status", r"epoch [3-9]/500")
    assert end_ssh_sessions(sshd) >= 1
    wait_text(page, "train-status", r"^connection lost.*Reconnect")
    shot("connection-lost")

    # Reconnect; the dataset (it was on the server too) loads again; Resume to the end.
    page.locator("[data-ts=train-reconnect]:visible").click()
    page.locator("[data-ts=train-reconnect]:visible").wait_for(state="hidden")
    page.get_by_role("tab", name="Dataset").click()
    page.get_by_role("button", name="Load", exact=True).click()
    wait_text(page, "load-status", r"^loaded$")
    page.get_by_role("tab", name="Models").click()
    done = epochs_of(server.project)
    set_field(page, "epochs", done[-1] + 1)
    page.get_by_role("button", name="Resume", exact=True).click()
    wait_text(page, "train-status", r"^finished", timeout=240_000)
    assert epochs_of(server.project) == list(range(1, done[-1] + 2))
