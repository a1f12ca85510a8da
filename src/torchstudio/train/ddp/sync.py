"""Cross-rank sums for `run_pass`, the job-wide stop flag, and telling peer failures apart."""

from __future__ import annotations

import torch
import torch.distributed as dist

# Words of the errors Gloo and NCCL raise when another rank died or stopped answering.
_PEER_WORDS = (
    "connection closed by peer",
    "connection reset by peer",
    "read error",
    "broken pipe",
    "timed out",
    "timeout",
    "nccl",
    "gloo",
    "socket",
)


class RankSync:
    """`PassSync` over the default process group: sums in float64, on the backend's device."""

    def __init__(self, device: torch.device) -> None:
        # NCCL reduces CUDA tensors only; Gloo takes CPU tensors.
        self.device = device if dist.get_backend() == "nccl" else torch.device("cpu")

    def _sum(self, *values: float) -> list[float]:
        tensor = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(tensor)
        return tensor.tolist()

    def totals(self, loss_sum: float, samples: int) -> tuple[float, int]:
        loss, count = self._sum(loss_sum, float(samples))
        return loss, round(count)

    def metric(self, value: float | None, samples: int) -> float | None:
        """The sample-weighted mean of the ranks' values: the job's value for metrics that
        are means over samples, and exact for torchmetrics ones (each rank computes the
        job's value already, as torchmetrics syncs its states across the group)."""
        weighted, count = self._sum((value or 0.0) * samples, float(samples))
        return weighted / count if count else None

    def any(self, flag: bool) -> bool:
        """True on every rank when it is true on one: all stop at the same batch."""
        (total,) = self._sum(1.0 if flag else 0.0)
        return total > 0


def is_peer_failure(exc: BaseException) -> bool:
    """An error that says another rank went away, rather than what went wrong."""
    if isinstance(exc, dist.DistError):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and any(word in text for word in _PEER_WORDS)
