"""A real worker that can write malformed frames to the app, for the protocol tests."""

from torchstudio.worker import Handlers, run_worker

handlers = Handlers()


@handlers.on("echo")
def echo(value, ctx):
    return value


@handlers.on("garble")
def garble(value, ctx):
    # The context sends through the worker's connection; write bytes no encoder would.
    connection = ctx._send.__self__
    connection.sock.sendall(bytes(value))
    return None


if __name__ == "__main__":
    raise SystemExit(run_worker(handlers, "garbleworker"))
