"""A small real worker for the worker-framework tests: echoes, reports progress, crashes."""

import os
import signal
import time

from torchstudio.worker import Handlers, run_worker

if os.environ.get("CRASHWORKER_SLOW_START"):
    time.sleep(float(os.environ["CRASHWORKER_SLOW_START"]))  # a start that is still importing

if os.environ.get("CRASHWORKER_FAIL_AT_START"):
    raise RuntimeError("boom at start")

handlers = Handlers()


@handlers.on("echo")
def echo(value, ctx):
    return value


@handlers.on("count")
def count(value, ctx):
    for i in range(value):
        ctx.progress((i + 1) / value, f"step {i + 1}")
    ctx.log("counted")
    ctx.send("custom", {"n": value})
    return value


@handlers.on("fail")
def fail(value, ctx):
    raise ValueError(f"bad value {value!r}")


@handlers.on("exit")
def hard_exit(value, ctx):
    os._exit(value)


@handlers.on("sleep")
def sleep(value, ctx):
    ctx.send("sleeping", value)  # tests wait for this: the request is under way
    time.sleep(value)
    return value


@handlers.on("ignore_sigterm")
def ignore_sigterm(value, ctx):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    return True


@handlers.on("state")
def state(value, ctx):
    ctx.state["calls"] = ctx.state.get("calls", 0) + 1
    return ctx.state["calls"]


@handlers.on("print")
def print_line(value, ctx):
    print(value)
    return None


@handlers.on("where")
def where(value, ctx):
    """The worker's folder, an environment variable, its import path and imported modules."""
    import sys

    return {
        "cwd": os.getcwd(),
        "env": os.environ.get(value),
        "path": sys.path,
        "pid": os.getpid(),
        "modules": sorted(sys.modules),
    }


if __name__ == "__main__":
    raise SystemExit(run_worker(handlers, "crashworker"))
