"""The built model, as the trainer receives it, in four formats; and `load_built_model`.

The trainer may run on another machine, so what travels must load without unpickling
arbitrary Python objects (pickle runs code from whoever made the file):

- "source" (default, recommended): {"mode", "code", "state", "workdir"?}. The model code
  chunk, run again by the loader, plus the weights as safetensors bytes (a JSON header and
  raw tensor data, nothing executable). The trainer needs the modules the code imports
  (`workdir`, when given, is put on the import path: it helps a trainer on this machine).
- "trace" / "script": {"mode", "archive"}. A TorchScript archive (`torch.jit.save`).
  Loading it does not import the user's Python code, and TorchScript reads its tensors and
  constants with its own restricted unpickler, which only builds TorchScript types, not
  arbitrary objects. Trade-offs: tracing records one run in one mode (it is traced in
  training mode, so dropout and batch normalization keep their training behaviour even
  after `eval()`), and control flow on tensor values is frozen to the branch taken;
  scripting keeps both but accepts only the TorchScript subset of Python. TorchScript is
  deprecated by PyTorch (still supported); its warnings are silenced here.
- "package": {"mode", "archive", "module", "interned", "externed"}. A `torch.package` zip:
  the model chunk as the source of the package module `module`, the user's own modules
  found next to the code (in `workdir`) interned as source, so a remote trainer needs no
  copy of the user's files, and the weights as a safetensors resource; never a pickle.
  torch, torchvision, numpy, torchstudio and any other installed library stay external:
  the trainer must have them.

Both "source" and "package" run the model code again on the trainer (it is the user's own
code: running it is the point); only the weights are data.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import safetensors.torch
import torch
from torch import nn

from torchstudio.model.safetensors_bytes import safetensors_bytes
from torchstudio.modules import format_user_error, safe_exec
from torchstudio.worker import UserError

MODES = ("source", "trace", "script", "package")
PACKAGE_MODULE = "torchstudio_model"
WEIGHTS_RESOURCE = "weights.safetensors"
# Kept external in packages: the trainer has these installed (torchstudio brings the rest).
EXTERN = ("torch", "torchvision", "numpy", "torchstudio")
# modelbuild seeds torch's generator with this before running the model code: the same code
# gives the same starting weights (a rebuild, an exported train.py start where a run did).
BUILD_SEED = 0


class BuildError(UserError):
    """The model code, the model or a built model cannot be used; the text is for the user."""


@contextlib.contextmanager
def user_modules(workdir: str | None) -> Iterator[None]:
    """Make the user's own modules in `workdir` importable, fresh from disk, for a while."""
    if not workdir:
        yield
        return
    folder = os.path.abspath(workdir)
    # Forget modules imported from there before, so edited files are read again.
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None) or ""
        if file and os.path.abspath(file).startswith(folder + os.sep):
            del sys.modules[name]
    sys.path.insert(0, folder)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(folder)


def model_from_namespace(namespace: dict[str, Any], description: str = "model code") -> nn.Module:
    """The `model` a code chunk defined, checked."""
    if "model" not in namespace:
        raise BuildError(f"the {description} must define `model` (for example `model = MyModel()`)")
    model = namespace["model"]
    if not isinstance(model, nn.Module):
        raise BuildError(
            f"`model` must be a torch.nn.Module, but the {description} made it "
            f"a {type(model).__module__}.{type(model).__qualname__}"
        )
    return model


def model_from_code(code: str, workdir: str | None = None) -> nn.Module:
    """Run the model code chunk and return its `model`; BuildError with file/line otherwise."""
    if not isinstance(code, str):
        raise BuildError("the model code must be a string")
    with user_modules(workdir):
        result = safe_exec(code, description="model code")
    if not result.ok:
        raise BuildError(result.error)
    return model_from_namespace(result.namespace)


def state_bytes(model: nn.Module) -> bytes:
    """The model's state_dict as safetensors bytes (see `state_dict_bytes`)."""
    return state_dict_bytes(model.state_dict())


def state_dict_bytes(state: dict[str, Any]) -> bytearray:
    """A state_dict as safetensors bytes.

    safetensors refuses tensors that share memory (tied weights, views): those get a copy,
    and loading copies the same values into both places again.
    """
    tensors: dict[str, torch.Tensor] = {}
    storages: set[tuple[str, int]] = set()
    for name, value in state.items():
        if not isinstance(value, torch.Tensor):
            raise BuildError(f"state entry {name!r} is a {type(value).__name__}, not a tensor")
        tensor = value.detach().cpu()
        storage = (str(tensor.device), tensor.untyped_storage().data_ptr())
        if storage in storages or not tensor.is_contiguous():
            tensor = tensor.clone(memory_format=torch.contiguous_format)
        if tensor.numel():
            storages.add(storage)
        tensors[name] = tensor
    return safetensors_bytes(tensors)


def load_state_bytes(model: nn.Module, data: bytes) -> None:
    """Load safetensors bytes made by `state_bytes` into the model (all keys must match)."""
    state = safetensors.torch.load(bytes(data))
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise BuildError(f"the weights do not fit the model: {exc}") from None


@contextlib.contextmanager
def _quiet_torchscript() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning, message=r".*torch\.jit")
        yield


def _jit_bytes(module: torch.jit.ScriptModule) -> bytes:
    buffer = io.BytesIO()
    with _quiet_torchscript():
        torch.jit.save(module, buffer)
    return buffer.getvalue()


def _trace_notes(caught: list[warnings.WarningMessage]) -> list[str]:
    """TorchScript's tracer warnings about the user's code (not torch's own internals)."""
    torch_dir = os.path.dirname(os.path.abspath(torch.__file__)) + os.sep
    notes = []
    for warning in caught:
        if not issubclass(warning.category, torch.jit.TracerWarning):
            continue
        if os.path.abspath(warning.filename).startswith(torch_dir):
            continue
        first_line = str(warning.message).split(". ")[0]
        notes.append(f'trace: {first_line} ("{warning.filename}", line {warning.lineno})')
    return list(dict.fromkeys(notes))


def _traced(model: nn.Module, inputs: Sequence[torch.Tensor], notes: list[str]) -> bytes:
    # Traced in training mode, the mode the trainer needs. The trace runs the model once, so
    # the batch norm statistics it updates are put back afterwards.
    was_training = model.training
    saved = {name: b.detach().clone() for name, b in model.named_buffers()}
    model.train()
    try:
        with _quiet_torchscript(), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", torch.jit.TracerWarning)
            traced = torch.jit.trace(model, tuple(t.clone() for t in inputs), check_trace=False)
        notes += _trace_notes(caught)
        return _jit_bytes(traced)
    except Exception as exc:
        raise BuildError(
            "TorchScript cannot trace this model (choose script, package or source):\n"
            + format_user_error(exc, "model code")
        ) from None
    finally:
        model.train(was_training)
        with torch.no_grad():
            for name, buffer in model.named_buffers():
                buffer.copy_(saved[name])


def _scripted(model: nn.Module) -> bytes:
    try:
        with _quiet_torchscript():
            scripted = torch.jit.script(model)
    except Exception as exc:
        message = str(exc).strip()
        raise BuildError(
            "TorchScript cannot compile this model's code (choose trace, package or source):\n"
            f"{type(exc).__name__}: {message}"
        ) from None
    return _jit_bytes(scripted)


def local_module_names(workdir: str | None) -> list[str]:
    """Top-level modules and packages in `workdir`: the user's own code, to intern."""
    if not workdir or not os.path.isdir(workdir):
        return []
    names = []
    for entry in sorted(os.listdir(workdir)):
        path = os.path.join(workdir, entry)
        if entry.endswith(".py") and os.path.isfile(path):
            names.append(entry[:-3])
        elif os.path.isfile(os.path.join(path, "__init__.py")):
            names.append(entry)
    return [n for n in names if n.isidentifier() and n not in EXTERN and n != PACKAGE_MODULE]


def _packaged(model: nn.Module, code: str, workdir: str | None) -> dict[str, Any]:
    from torch.package import PackageExporter

    buffer = io.BytesIO()
    try:
        with user_modules(workdir):
            exporter = PackageExporter(buffer)
            for name in local_module_names(workdir):
                exporter.intern([name, f"{name}.**"], allow_empty=True)
            exporter.extern([pattern for name in EXTERN for pattern in (name, f"{name}.**")])
            # Any other library the code imports must be installed where the model is loaded.
            exporter.extern("**", allow_empty=True)
            # A package (not a plain module), so that the weights can be one of its resources.
            exporter.save_source_string(PACKAGE_MODULE, code, is_package=True)
            exporter.save_binary(PACKAGE_MODULE, WEIGHTS_RESOURCE, state_bytes(model))
            exporter.close()
    except BuildError:
        raise
    except Exception as exc:
        raise BuildError(f"torch.package cannot package the model code: {exc}") from None
    return {
        "mode": "package",
        "archive": buffer.getvalue(),
        "module": PACKAGE_MODULE,
        "interned": sorted(exporter.interned_modules()),
        "externed": sorted(exporter.externed_modules()),
    }


def package_model(
    model: nn.Module,
    code: str,
    mode: str = "source",
    inputs: Sequence[torch.Tensor] = (),
    workdir: str | None = None,
    notes: list[str] | None = None,
) -> dict[str, Any]:
    """The built model in `mode` (see the module docstring); `inputs` are needed to trace.

    Tracer warnings about the user's code (a Python value computed from a tensor is frozen
    into the trace...) are appended to `notes`.
    """
    if mode == "source":
        built = {"mode": "source", "code": code, "state": state_bytes(model)}
        if workdir:
            built["workdir"] = workdir  # lets a trainer on this machine import the user's modules
        return built
    if mode == "trace":
        return {"mode": "trace", "archive": _traced(model, inputs, [] if notes is None else notes)}
    if mode == "script":
        return {"mode": "script", "archive": _scripted(model)}
    if mode == "package":
        return _packaged(model, code, workdir)
    raise BuildError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")


def _from_package(built: dict[str, Any]) -> nn.Module:
    from torch.package import PackageImporter

    name = built.get("module", PACKAGE_MODULE)
    importer = PackageImporter(io.BytesIO(bytes(built["archive"])))
    result = safe_exec(importer.import_module, args=(name,), description="packaged model code")
    if not result.ok:
        raise BuildError(result.error)
    model = model_from_namespace(vars(result.value), "packaged model code")
    load_state_bytes(model, importer.load_binary(name, WEIGHTS_RESOURCE))
    return model


def load_built_model(built: dict[str, Any], device: str | torch.device = "cpu") -> nn.Module:
    """The model a build produced, with its weights, on `device`, whatever its mode.

    Never unpickles Python objects (see the module docstring). Raises BuildError, whose text
    is for the user, when the model cannot be loaded.
    """
    mode = built.get("mode") if isinstance(built, dict) else None
    if mode == "source":
        model = model_from_code(built["code"], built.get("workdir"))
        load_state_bytes(model, built["state"])
        return model.to(device)
    if mode in ("trace", "script"):
        try:
            with _quiet_torchscript():
                return torch.jit.load(io.BytesIO(bytes(built["archive"])), map_location=device)
        except Exception as exc:
            raise BuildError(f"cannot load the TorchScript model: {exc}") from None
    if mode == "package":
        return _from_package(built).to(device)
    raise BuildError(f"unknown built model mode {mode!r}; expected one of {', '.join(MODES)}")
