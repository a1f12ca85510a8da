"""The job's layout from the `devices` setting: hosts, their devices, ranks, backend (pure).

`devices` is one device ("cuda:1"), "all" (every GPU of the machine), a list of devices
(["cuda:0", "cuda:1"], ["cpu", "cpu"]) or a list of hosts, each a dict
{"server": None (this machine) or a server name, "devices": ..., "address"?, "interface"?}.
The first host runs rank 0; its `address` is where the other hosts reach it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

HOST_KEYS = {"server", "devices", "address", "interface"}


class PlanError(ValueError):
    """A `devices` setting that does not describe a job this trainer can run."""


@dataclass(frozen=True)
class Host:
    server: str | None  # None: the machine the trainer runs on
    devices: str | tuple[str, ...]  # "all" until resolved on that machine
    address: str | None = None  # how the other hosts reach this one (rank 0's host)
    interface: str | None = None  # network interface for Gloo/NCCL (GLOO_SOCKET_IFNAME)

    @property
    def label(self) -> str:
        return self.server or "this machine"


@dataclass(frozen=True)
class Rank:
    rank: int
    local_rank: int
    host: int  # index in the plan's hosts
    device: str


@dataclass(frozen=True)
class Plan:
    hosts: tuple[Host, ...]
    port: int = 0  # the rendezvous port on the first host; 0: any free port (one machine)
    timeouts: float = 180.0  # seconds a collective or the rendezvous may wait
    ranks: tuple[Rank, ...] = field(default=())

    @property
    def world_size(self) -> int:
        return len(self.ranks)

    @property
    def distributed(self) -> bool:
        return len(self.hosts) > 1 or self.world_size > 1

    @property
    def backend(self) -> str:
        return backend_for([r.device for r in self.ranks])

    def ranks_of(self, host: int) -> list[Rank]:
        return [r for r in self.ranks if r.host == host]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Plan:
        hosts = tuple(
            Host(h["server"], _devices(h["devices"]), h.get("address"), h.get("interface"))
            for h in data["hosts"]
        )
        return with_ranks(Plan(hosts, int(data["port"]), float(data["timeouts"])))


def _devices(value: Any) -> str | tuple[str, ...]:
    if value == "all":
        return "all"
    if isinstance(value, str):
        return (value,)
    if isinstance(value, Sequence) and value and all(isinstance(d, str) for d in value):
        return tuple(value)
    raise PlanError(f"devices must be a device, 'all' or a list of devices, not {value!r}")


def parse_devices(value: Any, device: str) -> tuple[Host, ...]:
    """The hosts a `devices` setting names; None means the single `device` setting."""
    if value is None:
        return (Host(None, (device,)),)
    if isinstance(value, list) and value and all(isinstance(h, dict) for h in value):
        hosts = []
        for index, entry in enumerate(value):
            unknown = set(entry) - HOST_KEYS
            if unknown:
                raise PlanError(f"host {index}: unknown keys {', '.join(sorted(unknown))}")
            if "devices" not in entry:
                raise PlanError(f"host {index}: give its devices")
            hosts.append(
                Host(
                    entry.get("server"),
                    _devices(entry["devices"]),
                    entry.get("address"),
                    entry.get("interface"),
                )
            )
        servers = [h.server for h in hosts]
        if len(set(servers)) != len(servers):
            raise PlanError("each machine may appear once in devices (give it several devices)")
        if len(hosts) > 1 and not hosts[0].address:
            raise PlanError(
                "a job on several machines needs the first host's address, as the other "
                "machines reach it (its 'address')"
            )
        return tuple(hosts)
    return (Host(None, _devices(value)),)


def resolve_devices(devices: str | tuple[str, ...], gpu_count: int) -> tuple[str, ...]:
    """Turn "all" into this machine's GPUs; check the device kinds can work together."""
    if devices == "all":
        if gpu_count < 1:
            raise PlanError("devices 'all' means every CUDA GPU, and this machine has none")
        return tuple(f"cuda:{i}" for i in range(gpu_count))
    kinds = {d.split(":")[0] for d in devices}
    if "mps" in kinds and len(devices) > 1:
        raise PlanError("PyTorch cannot train on MPS with several processes: use one device")
    cuda = [d if ":" in d else "cuda:0" for d in devices if d.startswith("cuda")]
    if len(set(cuda)) != len(cuda):
        raise PlanError(f"each GPU may be used by one process only: {', '.join(devices)}")
    return tuple(devices)


def backend_for(devices: Sequence[str]) -> str:
    """NCCL when every rank has a CUDA GPU, Gloo when every rank is on the CPU."""
    kinds = {d.split(":")[0] for d in devices}
    if kinds == {"cuda"}:
        return "nccl"
    if kinds == {"cpu"}:
        return "gloo"
    raise PlanError(
        f"a distributed job runs on GPUs only or on CPUs only, not on {', '.join(sorted(kinds))}"
    )


def with_ranks(plan: Plan) -> Plan:
    """Number the ranks host by host (rank 0 is the first device of the first host)."""
    if any(h.devices == "all" for h in plan.hosts):
        raise PlanError("resolve 'all' on each machine before numbering the ranks")
    ranks = []
    for index, host in enumerate(plan.hosts):
        for local, device in enumerate(host.devices):
            ranks.append(Rank(len(ranks), local, index, device))
    plan = Plan(plan.hosts, plan.port, plan.timeouts, tuple(ranks))
    if plan.distributed:
        plan.backend  # noqa: B018  (raises PlanError for a mix of CPUs and GPUs)
    return plan


def batch_summary(batch_per_device: int, world_size: int) -> dict[str, Any]:
    """What the user is shown about the batch and the learning rate of a data-parallel job."""
    effective = batch_per_device * world_size
    return {
        "world_size": world_size,
        "batch_size_per_device": batch_per_device,
        "effective_batch_size": effective,
        "lr_scaling": (
            f"none: each optimizer step averages the gradients of {effective} samples "
            f"({batch_per_device} per device x {world_size} devices), so the learning rate "
            "applies to that effective batch, as in one process with that batch size; a rate "
            f"tuned for one device at batch {batch_per_device} would usually be multiplied "
            f"by about {world_size} (linear scaling rule)"
        ),
    }


def local_plan(
    devices: Any, device: str, timeouts: float, gpu_count: int, given: dict[str, Any] | None
) -> Plan:
    """The plan a trainer runs: the app's resolved plan for several machines, or this one's."""
    if given is not None:
        return Plan.from_json(given)
    hosts = parse_devices(devices, device)
    if len(hosts) > 1:
        raise PlanError(
            "a job on several machines is started by the app, with a trainer on each machine "
            "(torchstudio.train.ddp.cluster)"
        )
    host = hosts[0]
    resolved = Host(None, resolve_devices(host.devices, gpu_count), None, host.interface)
    return with_ranks(Plan((resolved,), 0, timeouts))
