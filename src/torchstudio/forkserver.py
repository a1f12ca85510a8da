"""A process that has imported torch once and forks workers from itself.

A worker started as `python -m torchstudio.<script>` spends seconds importing torch before it
answers; a child forked from a process that already holds torch starts in milliseconds. The
app starts this server once (`torchstudio.app.runtime.forking`) with a Unix socket on fd 3
and asks it for workers; each worker then runs exactly as it would have from the command
line: its module as `__main__`, `--address A --port P`, the secret on its stdin, its stderr
on the pipe the app passed, the environment the app gave it.

Messages on the socket, one JSON object per line:
- app -> server: {"start": id, "module": m, "args": [...], "env": {...}, "cwd": folder,
  "secret": s} with one file descriptor attached (the write end of the worker's stderr pipe);
- server -> app: {"started": id, "pid": n} or {"refused": id, "error": text}, then
  {"exited": pid, "code": c} when that worker ends (negative: killed by that signal).

Only third-party libraries are imported before forking: torchstudio's modules read settings
from the environment when imported, and each worker imports them in its own environment.
The server ends when the app closes the socket (or dies); a worker whose server is gone is
killed by the kernel (parent-death signal), so none outlives its app unnoticed.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import importlib
import json
import os
import runpy
import selectors
import signal
import socket
import sys
import traceback
from typing import Any

# What workers import first, each without side effects on the machine and without starting
# threads (a fork copies only the forking thread): torch._dynamo is what an optimizer's
# constructor imports (a second or more), torchvision what models and datasets use.
# torchmetrics is left out: its import starts a native thread pool. matplotlib is left out
# too: the first worker waits for these imports, and `torchstudio run` draws no plot.
PRELOAD = ("numpy", "torch", "torch._dynamo", "torchvision", "PIL.Image")
PR_SET_PDEATHSIG = 1  # linux/prctl.h
PR_SET_NAME = 15
MAX_MESSAGE = 1 << 20


def preload() -> None:
    for name in PRELOAD:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)


def become(module: str) -> None:
    """Die with the parent (the server), and be named after the worker in `top` and `ps -o
    comm` (the command line stays the server's): Linux only, skipped elsewhere."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        libc.prctl(PR_SET_NAME, module.rsplit(".", 1)[-1][:15].encode())


def use_environment(env: dict[str, str]) -> None:
    """Make `env` the process's environment, with its PYTHONPATH on the import path as the
    interpreter would have put it there at start."""
    os.environ.clear()
    os.environ.update(env)
    entries = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    for position, entry in enumerate(e for e in entries if e not in sys.path):
        sys.path.insert(position, entry)


def run_child(request: dict[str, Any], stderr_fd: int, server_fds: list[int]) -> None:
    """In the forked child: become the worker, then exit with its status."""
    code = 1
    try:
        atexit._clear()  # the server's own exit handlers are not the worker's
        signal.set_wakeup_fd(-1)
        for number in (signal.SIGCHLD, signal.SIGINT, signal.SIGTERM):
            signal.signal(number, signal.SIG_DFL)
        become(request["module"])
        for fd in server_fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        secret_read, secret_write = os.pipe()
        os.write(secret_write, request["secret"].encode() + b"\n")
        os.close(secret_write)
        os.dup2(secret_read, 0)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(stderr_fd, 2)
        for fd in (secret_read, devnull, stderr_fd):
            with contextlib.suppress(OSError):
                os.close(fd)
        # Unbuffered, as `python -u`: the app reads stderr line by line as it comes.
        sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115
        sys.stdout = open(1, "w", buffering=1, encoding="utf-8", closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", buffering=1, encoding="utf-8", closefd=False)  # noqa: SIM115
        use_environment(request["env"])
        os.chdir(request.get("cwd") or os.getcwd())  # the app's folder now, as a subprocess's
        sys.argv = [request["module"], *request["args"]]
        try:
            runpy.run_module(request["module"], run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            if not isinstance(exc.code, int | None):
                print(exc.code, file=sys.stderr)
    except BaseException:
        traceback.print_exc()
    finally:
        with contextlib.suppress(BaseException):
            atexit._run_exitfuncs()
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


class Server:
    """The server's loop: start requests on the socket, exits of its children."""

    def __init__(self, control: socket.socket) -> None:
        self.control = control
        self.buffer = b""
        self.descriptors: list[int] = []  # stderr pipes that came before their request's end
        self.children: set[int] = set()
        self.wakeup_read, self.wakeup_write = wakeup_read, wakeup_write = os.pipe()
        os.set_blocking(self.wakeup_read, False)
        os.set_blocking(wakeup_write, False)
        signal.set_wakeup_fd(wakeup_write)
        signal.signal(signal.SIGCHLD, lambda *_: None)  # wakes the loop through the fd

    def send(self, message: dict[str, Any]) -> None:
        self.control.sendall(json.dumps(message).encode() + b"\n")

    def serve(self) -> None:
        selector = selectors.DefaultSelector()
        selector.register(self.control, selectors.EVENT_READ)
        selector.register(self.wakeup_read, selectors.EVENT_READ)
        while True:
            for key, _ in selector.select():
                if key.fileobj is self.control:
                    if not self.read_requests():
                        return
                else:
                    with contextlib.suppress(BlockingIOError):
                        os.read(self.wakeup_read, 512)
            self.reap()

    def read_requests(self) -> bool:
        """Handle what came on the socket; False once the app closed it."""
        data, fds, _flags, _addr = socket.recv_fds(self.control, 65536, 16)
        if not data:
            return False
        self.buffer += data
        self.descriptors.extend(fds)
        while b"\n" in self.buffer:
            line, self.buffer = self.buffer.split(b"\n", 1)
            self.start(json.loads(line), self.descriptors.pop(0) if self.descriptors else None)
        return len(self.buffer) <= MAX_MESSAGE  # a line longer than any request: not the app

    def start(self, request: dict[str, Any], stderr_fd: int | None) -> None:
        ident = request.get("start")
        if stderr_fd is None:
            self.send({"refused": ident, "error": "no stderr pipe came with the request"})
            return
        try:
            pid = os.fork()
        except OSError as exc:
            os.close(stderr_fd)
            self.send({"refused": ident, "error": str(exc)})
            return
        if pid == 0:
            server_fds = [self.control.fileno(), self.wakeup_read, self.wakeup_write]
            run_child(request, stderr_fd, server_fds + self.descriptors)
        os.close(stderr_fd)
        self.children.add(pid)
        self.send({"started": ident, "pid": pid})

    def reap(self) -> None:
        for pid in list(self.children):
            try:
                done, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done, status = pid, 0
            if done:
                self.children.discard(pid)
                self.send({"exited": pid, "code": os.waitstatus_to_exitcode(status)})


def main() -> None:
    # Ctrl-C in the app's terminal reaches its whole group: the app ends this server itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    control = socket.socket(fileno=int(sys.argv[1]))
    preload()
    control.sendall(b'{"ready": true}\n')
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        Server(control).serve()


if __name__ == "__main__":
    main()
