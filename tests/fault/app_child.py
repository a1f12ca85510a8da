"""A stand-in for the app in the kill tests: open a project, load its dataset and train its
first model (resuming from its checkpoint) through the app's own services, until killed.

Resumes the latest run when it has a checkpoint; otherwise (no run yet, or killed before
its first checkpoint) trains a new run. Prints `worker PID` for every worker it starts and
`epoch N RUN` once epoch N of run RUN is saved.
Usage: python app_child.py PROJECT
"""

import asyncio
import sys
from typing import Any

from torchstudio.app.runtime.manager import WorkerEvent
from torchstudio.app.studio import Studio


def report(event: WorkerEvent) -> None:
    if event.kind == "started":
        print(f"worker {event.data['pid']}", flush=True)


async def main(path: str) -> None:
    studio = Studio()
    studio.manager.subscribe(report)
    await studio.start()
    await studio.open(path)
    name = studio.project.model_names()[0]
    # The three workers start side by side: the test kills this app over and over.
    loaded, *_ = await asyncio.gather(
        studio.dataset.load(),
        studio.pool.get("modelbuild", f"modelbuild {name}"),
        studio.pool.get("modeltrain", f"modeltrain {name}"),
    )
    if not loaded:
        raise SystemExit(f"the dataset did not load: {studio.dataset.error}")

    def on_epoch(record: dict[str, Any]) -> None:
        print(f"epoch {record['epoch']} {record['run']}", flush=True)

    run = studio.models.latest_run(name)
    resume = run is not None and studio.project.weights(name, "checkpoint", run.number) is not None
    await studio.models.train(name, on_epoch, resume=resume)
    print("finished", flush=True)
    await studio.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
