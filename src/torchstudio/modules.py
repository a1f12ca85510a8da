"""Base classes for the modules in the torchstudio sub-folders, and `safe_exec` for user code.

Modules are the user-facing building blocks (analyzers, renderers, metrics...). User code
(dataset, model, loss... chunks) only ever runs through `safe_exec`, which turns any
failure into a readable error text naming the file, line and error.
"""

from __future__ import annotations

import linecache
import os
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import numpy as np
from PIL import Image

from torchstudio.downloads import explain_download_failure

__all__ = ["Analyzer", "ExecResult", "Metric", "Renderer", "format_user_error", "safe_exec"]


class Analyzer:
    """Analyze a dataset sample by sample, then report.

    The `datasetanalyze` worker calls `start_analysis`, then `analyze_sample` for every
    sample (training samples first), then `finish_analysis`, and finally `generate_report`.
    An analyzer that derives loss weights (for example inverse class frequencies) stores
    them in `weights`, which the training tabs can use.
    """

    def __init__(self) -> None:
        self.weights: list[float] = []

    def start_analysis(
        self,
        num_training_samples: int,
        num_validation_samples: int,
        input_tensors_id: Sequence[int],
        output_tensors_id: Sequence[int],
        labels: Sequence[str],
    ) -> None:
        """Reset the state before a new pass over the dataset."""
        raise NotImplementedError

    def analyze_sample(self, sample: Sequence[np.ndarray], training_sample: bool) -> None:
        """Accumulate statistics from one sample (a tuple of numpy arrays)."""
        raise NotImplementedError

    def finish_analysis(self) -> None:
        """Derive the results (and `weights`) once every sample was seen."""
        raise NotImplementedError

    def generate_report(self, size: tuple[int, int], dpi: int) -> Image.Image:
        """Draw the results into an image of `size` pixels (width, height)."""
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """JSON-able state, so that a finished analysis can be stored in the project."""
        return {"weights": list(self.weights)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.weights = [float(w) for w in state.get("weights", [])]


class Renderer:
    """Render one numpy tensor into a PIL image of a requested size.

    `shift` and `scale` carry the user's pan and zoom for each axis; `input_tensors`,
    `target_tensor` and `labels` give context for renderers that draw over or compare
    with other tensors (for example labels highlighting target vs prediction).
    """

    def render(
        self,
        title: str,
        tensor: np.ndarray,
        size: tuple[int, int],
        dpi: int = 100,
        shift: Sequence[float] = (0, 0, 0, 0),
        scale: Sequence[float] = (1, 1, 1, 1),
        input_tensors: Sequence[np.ndarray] = (),
        target_tensor: np.ndarray | None = None,
        labels: Sequence[str] = (),
    ) -> Image.Image:
        raise NotImplementedError


class Metric:
    """An evaluation metric accumulated over batches: `update`, then `compute`, then `reset`."""

    def update(self, preds: Any, target: Any) -> None:
        raise NotImplementedError

    def compute(self) -> Any:
        raise NotImplementedError

    def reset(self) -> None:
        raise NotImplementedError


@dataclass
class ExecResult:
    """What `safe_exec` returns: the namespace (code) or return value (callable), or an error."""

    value: Any = None
    namespace: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    exception: BaseException | None = None  # what `error` describes, for a closer look

    @property
    def ok(self) -> bool:
        return self.error is None


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_MODULE_FOLDERS = (
    "analyzers",
    "datasets",
    "loss",
    "metrics",
    "models",
    "optim",
    "renderers",
    "schedulers",
)
# Filenames given to code chunks compiled by safe_exec: their frames are always "user code".
_user_code_names: set[str] = set()


def _register_source(name: str, source: str) -> None:
    """Make the chunk's lines available to tracebacks, as if it were a file on disk."""
    lines = source.splitlines(keepends=True)
    linecache.cache[name] = (len(source), None, lines, name)
    _user_code_names.add(name)


def _is_library_file(filename: str) -> bool:
    if filename in _user_code_names:
        return False
    if filename.startswith("<"):
        return True  # frozen importlib and other synthetic frames
    path = os.path.abspath(filename)
    if path.startswith(_PACKAGE_DIR + os.sep):
        # Built-in modules are code the user picks and reads: errors in them are theirs to see.
        relative = os.path.relpath(path, _PACKAGE_DIR)
        return relative.split(os.sep)[0] not in _MODULE_FOLDERS
    parts = path.split(os.sep)
    return "site-packages" in parts or "dist-packages" in parts or _is_stdlib(path)


def _is_stdlib(path: str) -> bool:
    import sysconfig

    stdlib = sysconfig.get_paths()["stdlib"]
    return path.startswith(os.path.abspath(stdlib) + os.sep)


def format_user_error(exc: BaseException, description: str = "user code") -> str:
    """Describe an exception for the user: file, line, the offending code and the error.

    Syntax errors show the line with a caret under the problem. Runtime errors point at the
    innermost frame of the user's code, even when the exception was raised deep inside a
    library the user's code called.
    """
    if isinstance(exc, SyntaxError):
        return _format_syntax_error(exc, description)
    frame = _innermost_user_frame(exc.__traceback__)
    message = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    offline = explain_download_failure(exc)
    if offline is not None:
        message += "\n" + offline
    if frame is None:
        return f"Error in {description}: {message}"
    where = f'File "{frame.filename}", line {frame.lineno}, in {frame.name}'
    code = (frame.line or "").strip()
    text = f"Error in {description}\n  {where}\n"
    if code:
        text += f"    {code}\n"
    chunk = _innermost_chunk_frame(exc.__traceback__)
    if chunk is not None and chunk is not frame and frame.filename not in _user_code_names:
        # The failure is inside a built-in module: also name the line of the user's chunk.
        text += f'  called from File "{chunk.filename}", line {chunk.lineno}\n'
        if chunk.line:
            text += f"    {chunk.line.strip()}\n"
    return text + message


def _format_syntax_error(exc: SyntaxError, description: str) -> str:
    filename = exc.filename or description
    text = f'Syntax error in {description}\n  File "{filename}", line {exc.lineno}\n'
    line = exc.text
    if line is None and exc.filename and exc.lineno:
        line = linecache.getline(exc.filename, exc.lineno)
    if line:
        stripped = line.rstrip("\n")
        indent = len(stripped) - len(stripped.lstrip())
        text += f"    {stripped.strip()}\n"
        if exc.offset:
            caret_at = max(exc.offset - 1 - indent, 0)
            text += "    " + " " * caret_at + "^\n"
    return text + f"{type(exc).__name__}: {exc.msg}"


def _innermost_user_frame(tb: TracebackType | None) -> traceback.FrameSummary | None:
    frames = traceback.extract_tb(tb)
    for frame in reversed(frames):
        if frame.filename != __file__ and not _is_library_file(frame.filename):
            return frame
    return None


def _innermost_chunk_frame(tb: TracebackType | None) -> traceback.FrameSummary | None:
    for frame in reversed(traceback.extract_tb(tb)):
        if frame.filename in _user_code_names:
            return frame
    return None


def safe_exec(
    code: str | Callable[..., Any],
    namespace: dict[str, Any] | None = None,
    description: str = "user code",
    args: Sequence[Any] = (),
    kwargs: dict[str, Any] | None = None,
) -> ExecResult:
    """Run a code chunk (or call a function) and catch everything it raises.

    A string is compiled under the name `description`, so error texts name it as a file
    and quote its lines; it runs in `namespace` (a new dict by default), which is returned.
    A callable is called with `args`/`kwargs` and its return value is returned.
    `KeyboardInterrupt` and `SystemExit` raised by user code are reported as errors too,
    so that a stray `exit()` in a chunk cannot end a worker silently.
    """
    env = {} if namespace is None else namespace
    env.setdefault("__name__", "__torchstudio_user__")
    try:
        if callable(code):
            value = code(*args, **(kwargs or {}))
            return ExecResult(value=value, namespace=env)
        _register_source(description, code)
        compiled = compile(code, description, "exec")
        exec(compiled, env)  # noqa: S102 - running the user's own code is the point
        return ExecResult(namespace=env)
    except (Exception, KeyboardInterrupt, SystemExit) as exc:
        error = format_user_error(exc, description)
        return ExecResult(namespace=env, error=error, exception=exc)
