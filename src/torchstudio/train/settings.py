"""Training settings, as the Model tab sets them. Everything here is JSON-able."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from torchstudio.train.ddp.plan import parse_devices

PRECISIONS = ("fp32", "tf32", "fp16", "bf16")
# How the passes run the model (train/compiling.py); "off" trains the model as it is. Here,
# not there: the app checks the setting without importing torch.
COMPILE_CHOICES = (
    "auto",
    "off",
    "torchscript",
    "compile",
    "compile-reduce-overhead",
    "compile-max-autotune",
)
DATA_MODES = ("cache", "fresh")


@dataclass
class TrainSettings:
    device: str = "cpu"  # cpu, cuda, cuda:N, mps
    precision: str = "fp32"  # fp32, tf32 (CUDA matmuls), fp16 (with a gradient scaler), bf16
    batch_size: int = 64
    shuffle: bool = True
    epochs: int = 10
    early_stop: int | None = None  # epochs without a better validation result, then stop
    # A checkpoint (what Resume goes on from) every N epochs, and after the last one.
    checkpoint_every: int = 1
    seed: int = 0
    loss: list[str] = field(default_factory=list)  # one chunk defining `loss` per output
    metric: list[str] = field(default_factory=list)  # one chunk defining `metric` per output
    optimizer: str = "from torchstudio.optim import Adam\noptimizer = Adam(model.parameters())\n"
    scheduler: str = ""  # a chunk defining `scheduler`, or nothing for a constant rate
    input_ids: list[int] = field(default_factory=lambda: [0])
    output_ids: list[int] = field(default_factory=lambda: [1])
    data: str = "cache"  # cache: the dataset hand-off; fresh: run the dataset code here
    loader_workers: int = 2  # DataLoader processes in the fresh mode
    threads: int | None = None  # torch CPU threads; None keeps torch's default
    # How the passes run the model (train/compiling.py): auto measures and compiles when it
    # pays off; off, torchscript, compile, compile-reduce-overhead, compile-max-autotune.
    compile: str = "auto"
    # Data-parallel training (see torchstudio.train.ddp.plan): None trains on `device` alone;
    # else a device, "all" GPUs, a list of devices, or a list of hosts with their devices.
    # `batch_size` is then per device: the effective batch is batch_size x devices.
    devices: str | list[Any] | None = None
    dist_port: int = 29500  # rendezvous port on the first host (jobs on several machines)
    dist_timeout: float = 180.0  # seconds a rank waits for the others before giving up

    def validate(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(
                f"precision must be one of {', '.join(PRECISIONS)}, not {self.precision!r}"
            )
        if self.compile not in COMPILE_CHOICES:
            raise ValueError(
                f"compile must be one of {', '.join(COMPILE_CHOICES)}, not {self.compile!r}"
            )
        if self.data not in DATA_MODES:
            raise ValueError(f"data must be one of {', '.join(DATA_MODES)}, not {self.data!r}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {self.batch_size}")
        if self.epochs < 1:
            raise ValueError(f"epochs must be at least 1, not {self.epochs}")
        if self.checkpoint_every < 1:
            raise ValueError(f"checkpoint_every must be at least 1, not {self.checkpoint_every}")
        if self.early_stop is not None and self.early_stop < 1:
            raise ValueError(f"early_stop must be at least 1 epoch, not {self.early_stop}")
        if not self.loss:
            raise ValueError("give one loss per model output (none given)")
        if not self.output_ids or not self.input_ids:
            raise ValueError("the model needs at least one input and one output tensor")
        if not 0 <= self.dist_port < 65536:
            raise ValueError(f"dist_port must be a TCP port, not {self.dist_port}")
        if self.dist_timeout <= 0:
            raise ValueError(f"dist_timeout must be positive, not {self.dist_timeout}")
        parse_devices(self.devices, self.device)  # raises PlanError, a ValueError

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> TrainSettings:
        known = set(cls.__dataclass_fields__)
        unknown = set(data or {}) - known
        if unknown:
            raise ValueError(f"unknown training settings: {', '.join(sorted(unknown))}")
        settings = cls(**(data or {}))
        settings.validate()
        return settings
