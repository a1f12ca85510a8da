"""Where a model trains: its server, and one device, all GPUs, several devices or servers.

The choice becomes the model's `server` and `devices` settings (ModelService.set_placement,
which checks it); the line below says the effective batch of a data-parallel job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nicegui import background_tasks, ui

from torchstudio.app.models import definition
from torchstudio.app.pages.live import Live
from torchstudio.app.pages.model_editor import mark_id
from torchstudio.app.studio import Studio

HERE = ""  # the server select's value for this machine (None cannot be an option key)
MODES = {
    "one": "one device",
    "all": "all GPUs",
    "several": "several devices",
    "servers": "several servers",
}


@dataclass
class Placement:
    """The controls' view of the `server` and `devices` settings."""

    server: str | None = None
    mode: str = "one"
    device: str = "cpu"
    chosen: list[str] = field(default_factory=list)  # devices of each machine, CPU once
    cpu_processes: int = 1
    others: list[str] = field(default_factory=list)  # the other servers of a job
    address: str = ""  # how the other servers reach the model's machine

    @classmethod
    def of(cls, settings: dict[str, Any]) -> Placement:
        placement = cls(settings.get("server"), device=settings.get("device") or "cpu")
        devices = settings.get("devices")
        if devices == "all":
            placement.mode = "all"
        elif isinstance(devices, list) and devices and isinstance(devices[0], dict):
            placement.mode = "servers"
            placement.others = [h.get("server") for h in devices[1:]]
            placement.address = devices[0].get("address") or ""
            placement.set_devices(devices[0].get("devices"))
        elif isinstance(devices, list):
            placement.mode = "several"
            placement.set_devices(devices)
        return placement

    def set_devices(self, devices: Any) -> None:
        listed = [] if devices in (None, "all") else list(devices)
        self.chosen = list(dict.fromkeys(listed))
        self.cpu_processes = max(1, listed.count("cpu"))

    def device_list(self) -> list[str] | str:
        """The chosen devices, the CPU repeated once per process; "all" when none chosen."""
        listed = [d for d in self.chosen if d != "cpu"]
        if "cpu" in self.chosen:
            listed += definition.cpu_processes(self.cpu_processes)
        return listed or "all"

    def devices(self) -> Any:
        """The `devices` setting these controls stand for."""
        if self.mode == "one":
            return self.device
        if self.mode == "all":
            return "all"
        if self.mode == "several":
            return self.device_list()
        first: dict[str, Any] = {"server": None, "devices": self.device_list()}
        if self.address:
            first["address"] = self.address
        return [first, *({"server": s, "devices": self.device_list()} for s in self.others)]


def placement_form(studio: Studio, live: Live, name: str) -> None:
    """The server, devices and effective-batch controls of model `name`."""
    assert studio.models is not None and studio.views is not None
    models, views, servers = studio.models, studio.views, studio.servers
    marker = mark_id(name)

    def known() -> list[str]:
        return sorted(servers.book.entries)

    def server_label(server: str) -> str:
        """The server with its devices, once the Servers dialog checked it."""
        status = studio.desk.status(server)
        return f"{server} ({', '.join(status.devices)})" if status.report else server

    def settings() -> dict[str, Any]:
        return models.effective(name).values

    def machine_devices(server: str | None) -> list[str]:
        checked = studio.desk.status(server).report if server else None
        if checked:  # the Servers dialog's last check of that server
            return studio.desk.status(server).devices
        if server not in views.server_devices:
            background_tasks.create(views.find_devices(server))
        return views.server_devices.get(server) or ["cpu"]

    def save(placement: Placement, error: Any) -> None:
        try:
            models.set_placement(name, placement.server, placement.devices(), known())
            error.set_text("")
        except ValueError as exc:
            error.set_text(str(exc))
        body.refresh()

    @ui.refreshable
    def body() -> None:
        placement = Placement.of(settings())
        devices = machine_devices(placement.server)
        with ui.row().classes("w-full items-center gap-3"):
            choices = {HERE: "this machine", **{s: server_label(s) for s in known()}}
            if placement.server and placement.server not in choices:  # a project from elsewhere
                choices[placement.server] = f"{placement.server} (not one of your servers)"
            server = ui.select(choices, value=placement.server or HERE, label="server")
            server.props("dense data-ts=placement-server").classes("w-40").mark(
                f"placement-server-{marker}"
            )
            mode = ui.select(MODES, value=placement.mode, label="devices")
            mode.props("dense data-ts=placement-mode")
            mode.classes("w-40").mark(f"placement-mode-{marker}")
            if placement.mode == "one":
                options = list(dict.fromkeys([*devices, placement.device]))
                device = ui.select(options, value=placement.device, label="device")
                device.props("dense data-ts=placement-device").classes("w-32").mark(
                    f"placement-device-{marker}"
                )
                device.on_value_change(lambda e: change(device=e.value))
            if placement.mode in ("several", "servers"):
                options = list(dict.fromkeys([*devices, *placement.chosen]))
                several = ui.select(options, value=placement.chosen, multiple=True)
                several.props("dense use-chips label='devices of each machine'")
                several.props("data-ts=placement-devices")
                several.classes("min-w-48").mark(f"placement-devices-{marker}")
                several.on_value_change(lambda e: change(chosen=list(e.value or [])))
                if "cpu" in placement.chosen:
                    # The CPU is one device: a number of processes says how many ranks use it.
                    count = ui.number("CPU processes", value=placement.cpu_processes, min=1)
                    count.props("dense data-ts=placement-cpu").classes("w-32").mark(
                        f"placement-cpu-{marker}"
                    )
                    count.on("change", lambda _: change(cpu_processes=int(count.value or 1)))
            if placement.mode == "servers":
                others = [s for s in known() if s != placement.server]
                others += [s for s in placement.others if s not in others]  # unknown ones too
                also = ui.select(others, value=placement.others, multiple=True)
                also.props("dense use-chips label='other servers'").classes("min-w-48")
                also.mark(f"placement-others-{marker}")
                also.on_value_change(lambda e: change(others=list(e.value or [])))
                address = ui.input("address of this machine", value=placement.address)
                address.props("dense").mark(f"placement-address-{marker}")
                address.on("change", lambda _: change(address=address.value or ""))
                port = ui.input("port", value=str(settings()["dist_port"]))
                port.props("dense").classes("w-24").mark(f"placement-port-{marker}")
                port.on("change", lambda _: save_port(port.value))
        server.on_value_change(lambda e: change(server=e.value or None))
        mode.on_value_change(lambda e: change(mode=e.value))
        note = views.device_errors.get(placement.server)
        if note:
            ui.label(f"devices unknown ({note}): the CPU is shown").classes("text-xs")
        size = int(settings()["batch_size"])
        try:
            processes = definition.world_size(
                settings()["devices"], placement.device, placement.server, views.gpu_counts()
            )
            line = definition.batch_line(size, processes)
        except ValueError as exc:
            line = str(exc)
        ui.label(line).classes("text-sm").props("data-ts=batch-line").mark(f"batch-{marker}")

    def change(**values: Any) -> None:
        placement = Placement.of(settings())
        if values.get("mode") in ("several", "servers") and not placement.chosen:
            placement.chosen = [placement.device]  # start from the device chosen so far
        for key, value in values.items():
            setattr(placement, key, value)
        save(placement, error)

    def save_port(text: str) -> None:
        try:
            models.set_setting(name, "dist_port", text)
            error.set_text("")
        except ValueError as exc:
            error.set_text(f"port: {exc}")

    with ui.column().classes("w-full gap-0"):
        body()
        error = ui.label().classes("text-sm text-negative").props("data-ts=placement-error")
        error.mark(f"placement-error-{marker}")
    # `live` is the settings form's scope: drawn again with it, these subscriptions go with it.
    live.watch(
        ["devices", "servers", "model"],
        lambda _: body.refresh(),
        lambda: (
            str(views.server_devices),
            models.effective(name)["batch_size"],
            tuple(known()),
            tuple(server_label(s) for s in known()),
        ),
        now=False,
    )
