"""The app's side of a job on several machines: a trainer per host, through the remote servers.

The model's own trainer (here or on a server) runs the first host, with rank 0; this starts
one more `modeltrain` worker on each other host through `Servers.start_worker` (the SSH
remote-worker mechanism: package upload, guard, reverse tunnel), resolves each host's
devices there, sends the numbered plan to every trainer (`train` to the first, `join` to
the others) and waits for all. If one host fails, the others are stopped and the error
names the rank that caused it. Only the first host's trainer sends messages to the app.

The ranks themselves talk to each other directly (the rendezvous port on the first host,
then Gloo/NCCL connections between every pair of ranks): see docs/distributed.md.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any

from torchstudio.train.ddp.plan import Host, Plan, PlanError, parse_devices, with_ranks

PEER_WORDS = "lost contact with the other ranks"
SETTLE_SECONDS = 5.0  # after a host fails, how long the others get to report their end


class ClusterError(Exception):
    """The job on several machines failed; the message names the host and rank."""


def pick_error(errors: list[tuple[str, BaseException]]) -> str:
    """The error that explains the others: a rank's own failure before a lost contact."""
    ordered = sorted(errors, key=lambda item: PEER_WORDS in str(item[1]))
    label, error = ordered[0]
    return f"{label}: {error}"


async def _link_for(servers: Any, host: Host, link: dict[str, Any]) -> dict[str, Any]:
    return link if host.server is None else await servers.link_to_server(host.server, link)


async def train_on_hosts(
    manager: Any,
    servers: Any,
    trainer: Any,
    request: dict[str, Any],
    *,
    env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Train `request` (modeltrain's `train` request with the app-side data link) on the
    hosts of its `devices` setting; `trainer` is the first host's worker. Returns the
    summary of `train`; raises ClusterError."""
    settings = request["settings"]
    hosts = parse_devices(settings.get("devices"), settings.get("device", "cpu"))
    if len(hosts) == 1:
        return await trainer.request("train", request)
    if any(h.server is None for h in hosts[1:]):
        raise PlanError("only the first host may be the app's machine (server None)")
    workers = [trainer]
    try:
        for host in hosts[1:]:
            assert host.server is not None
            workers.append(await servers.start_worker(manager, host.server, "modeltrain", env=env))
        resolved = []
        for host, worker in zip(hosts, workers, strict=True):
            devices = await worker.request("devices", {"devices": host.devices})
            resolved.append(Host(host.server, tuple(devices), host.address, host.interface))
        plan = with_ranks(
            Plan(
                tuple(resolved),
                int(settings.get("dist_port", 29500)),
                float(settings.get("dist_timeout", 180.0)),
            )
        )
        requests = []
        for index, (host, worker) in enumerate(zip(hosts, workers, strict=True)):
            link = await _link_for(servers, host, request["link"])
            value = {**request, "link": link, "plan": plan.to_json()}
            if index:
                value = {**value, "host": index}
            requests.append(worker.request("join" if index else "train", value))
        return await _wait_all(list(zip(resolved, workers, requests, strict=True)))
    finally:
        for worker in workers[1:]:
            with contextlib.suppress(Exception):
                await worker.stop()


async def _wait_all(jobs: list[tuple[Host, Any, Any]]) -> dict[str, Any]:
    tasks = [asyncio.ensure_future(request) for _, _, request in jobs]
    done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    if pending and any(t.exception() is not None for t in done):
        # The other hosts notice the failure through their collectives; let them say so.
        done, pending = await asyncio.wait(pending, timeout=SETTLE_SECONDS)
        for (_, worker, _), task in zip(jobs, tasks, strict=True):
            if not task.done():
                with contextlib.suppress(Exception):
                    await worker.request("cancel")
                task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    errors = [
        (f"host {index} ({host.label})", task.exception())
        for index, ((host, _, _), task) in enumerate(zip(jobs, tasks, strict=True))
        if not task.cancelled() and task.exception() is not None
    ]
    if errors:
        raise ClusterError(pick_error(errors))  # type: ignore[arg-type]
    return tasks[0].result()
