"""A real worker whose handlers hang in user code, or keep busy while responding."""

import time

from torchstudio.worker import Handlers, run_worker

handlers = Handlers()


@handlers.on("spin")
def spin(value, ctx):
    while True:  # user code in an endless loop, in the thread that reads messages
        pass


@handlers.on("spin_job", background=True)
def spin_job(value, ctx):
    while True:  # the same in a background job
        pass


@handlers.on("steady_job", background=True)
def steady_job(value, ctx):
    """Busy for `value` seconds, polling for a cancel as long jobs do: it responds."""
    end = time.monotonic() + value
    while time.monotonic() < end and not ctx.cancelled:
        time.sleep(0.01)
    return "done"


if __name__ == "__main__":
    raise SystemExit(run_worker(handlers, "hangworker"))
