"""Find the modules the studio offers, describe their parameters, and generate code from them.

Sources: the built-in module folders and user module folders (read with `ast`, never
imported), code chunks typed by the user (read with `ast`, never executed), and libraries
(torchvision datasets and models, torch losses, optimizers and schedulers, torchmetrics
metrics; read with `inspect`). Library results are cached on disk, keyed by the library
versions, because importing those libraries takes seconds.

Every result is a `ModuleInfo`; `generate_code` turns one plus the user's parameter values
into the code chunk that defines the kind's conventional variable (`model`, `optimizer`...).
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import inspect
import json
import os
import re
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "DEFAULT_CACHE_DIR",
    "DEFAULT_DATASET_ROOT",
    "DEFAULT_USER_MODULES_DIR",
    "KINDS",
    "VARIABLES",
    "ModuleInfo",
    "ParameterInfo",
    "ParseError",
    "generate_code",
    "load_library",
    "parse_code",
    "scan_all",
    "scan_builtin",
    "scan_folder",
    "scan_library",
    "scan_to_json",
    "template",
]

KINDS = (
    "analyzers",
    "datasets",
    "loss",
    "metrics",
    "models",
    "optim",
    "renderers",
    "schedulers",
)
# The variable a code chunk of each kind defines (datasets define `train` and maybe `valid`).
VARIABLES = {
    "analyzers": "analyzer",
    "datasets": "train",
    "loss": "loss",
    "metrics": "metric",
    "models": "model",
    "optim": "optimizer",
    "renderers": "renderer",
    "schedulers": "scheduler",
}
# Parameters the studio gives values to itself, hidden from (or preset in) the UI's forms.
STUDIO_FILLED = {
    "datasets": frozenset({"root", "train", "download", "split", "image_set"}),
    "optim": frozenset({"params"}),
    "schedulers": frozenset({"optimizer"}),
}
_SPLIT_PARAMETERS = ("split", "image_set")
_VALID_SPLITS = ("val", "valid", "validation", "test")
DEFAULT_DATASET_ROOT = "~/.torchstudio/datasets"
DEFAULT_USER_MODULES_DIR = "~/.torchstudio/modules"
DEFAULT_CACHE_DIR = "~/.cache/torchstudio"
# Bump when the cached library description changes shape.
_CACHE_FORMAT = 1
_PACKAGE_DIR = Path(__file__).resolve().parent
_LIBRARIES = ("torch", "torchvision", "torchmetrics", "timm")


class ParseError(ValueError):
    """A code chunk or a parameter value that is not valid Python, or a missing parameter."""

    def __init__(
        self,
        message: str,
        parameter: str | None = None,
        lineno: int | None = None,
        line: str | None = None,
    ) -> None:
        super().__init__(message)
        self.parameter = parameter
        self.lineno = lineno
        self.line = line


@dataclass
class ParameterInfo:
    """One constructor (or builder) parameter; `annotation` and `default` are source text."""

    name: str
    annotation: str = ""
    default: str | None = None
    required: bool = True
    filled_by_studio: bool = False
    positional_only: bool = False
    keyword_only: bool = False


@dataclass
class ModuleInfo:
    """A module the user can pick: a class, or a model builder function (`is_function`).

    `import_path` is the dotted path of library and built-in modules; project, user and code
    modules have `source` (their whole file or chunk) and are defined by running it.
    `var_keyword` tells that it accepts extra keyword arguments (`**kwargs`).
    """

    kind: str
    name: str
    origin: str
    import_path: str | None = None
    docstring: str = ""
    parameters: list[ParameterInfo] = field(default_factory=list)
    source: str | None = None
    path: str | None = None
    is_function: bool = False
    var_keyword: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModuleInfo:
        values = dict(data)
        values["parameters"] = [ParameterInfo(**p) for p in values.get("parameters", [])]
        return cls(**values)

    def parameter(self, name: str) -> ParameterInfo | None:
        return next((p for p in self.parameters if p.name == name), None)


def scan_to_json(scan: dict[str, list[ModuleInfo]]) -> dict[str, list[dict[str, Any]]]:
    """A scan result as plain dicts and lists, ready for `json.dumps`."""
    return {kind: [info.to_json() for info in infos] for kind, infos in scan.items()}


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"Unknown module kind {kind!r}; expected one of {', '.join(KINDS)}")


def _is_filled(kind: str, name: str, default: str | None = None) -> bool:
    if name not in STUDIO_FILLED.get(kind, ()):
        return False
    if name in _SPLIT_PARAMETERS and default not in (None, "None"):
        # A split named by a string ('train') is the studio's to set; a number (a ratio) is not.
        try:
            return isinstance(ast.literal_eval(default), str)
        except (ValueError, SyntaxError):
            return False
    return True


# ---------------------------------------------------------------------------------------------
# Source code (files and chunks), read with ast only


def _syntax_error(exc: SyntaxError, description: str, source: str) -> ParseError:
    lineno = exc.lineno or 0
    line = exc.text
    if line is None and 0 < lineno <= len(source.splitlines()):
        line = source.splitlines()[lineno - 1]
    line = (line or "").rstrip("\r\n")
    text = f"Syntax error in {description}, line {lineno}:\n"
    if line.strip():
        indent = len(line) - len(line.lstrip())
        text += f"    {line.strip()}\n"
        if exc.offset:
            text += "    " + " " * max(exc.offset - 1 - indent, 0) + "^\n"
    text += f"{type(exc).__name__}: {exc.msg}"
    return ParseError(text, lineno=lineno, line=line)


def _text(node: ast.AST | None, source: str) -> str:
    if node is None:
        return ""
    return ast.get_source_segment(source, node) or ast.unparse(node)


def _default_text(default: ast.expr | None, source: str) -> str | None:
    return None if default is None else _text(default, source)


def _ast_parameters(
    args: ast.arguments, source: str, kind: str, skip_first: bool
) -> tuple[list[ParameterInfo], bool]:
    positional = [*args.posonlyargs, *args.args]
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults))
    defaults += args.defaults
    parameters = []
    for index, (arg, default) in enumerate(zip(positional, defaults, strict=True)):
        if skip_first and index == 0:
            continue  # self
        parameters.append(
            ParameterInfo(
                name=arg.arg,
                annotation=_text(arg.annotation, source),
                default=_default_text(default, source),
                required=default is None,
                filled_by_studio=_is_filled(kind, arg.arg, _default_text(default, source)),
                positional_only=index < len(args.posonlyargs),
            )
        )
    for arg, default in zip(args.kwonlyargs, args.kw_defaults, strict=True):
        parameters.append(
            ParameterInfo(
                name=arg.arg,
                annotation=_text(arg.annotation, source),
                default=_default_text(default, source),
                required=default is None,
                filled_by_studio=_is_filled(kind, arg.arg, _default_text(default, source)),
                keyword_only=True,
            )
        )
    return parameters, args.kwarg is not None


def _class_init(
    node: ast.ClassDef, classes: dict[str, ast.ClassDef], seen: set[str]
) -> ast.FunctionDef | None:
    """The class's `__init__`, or the one it inherits from a class of the same source."""
    for item in node.body:
        if isinstance(item, ast.FunctionDef) and item.name == "__init__":
            return item
    seen.add(node.name)
    for base in node.bases:
        if isinstance(base, ast.Name) and base.id in classes and base.id not in seen:
            found = _class_init(classes[base.id], classes, seen)
            if found is not None:
                return found
    return None


def _exported_names(tree: ast.Module) -> set[str] | None:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "__all__" for target in node.targets
        ):
            try:
                return set(ast.literal_eval(node.value))
            except ValueError:
                return None
    return None


def _parse_source(
    source: str,
    kind: str,
    origin: str,
    description: str,
    path: str | None = None,
    module: str | None = None,
) -> list[ModuleInfo]:
    try:
        tree = ast.parse(source, filename=description)
    except SyntaxError as exc:
        raise _syntax_error(exc, description, source) from None
    exported = _exported_names(tree)
    classes = {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}
    infos = []
    for node in tree.body:
        # Public top-level classes are modules (helpers start with `_`, or `__all__` lists the
        # modules); for models, builder functions too.
        is_class = isinstance(node, ast.ClassDef)
        is_builder = isinstance(node, ast.FunctionDef) and kind == "models"
        if not (is_class or is_builder):
            continue
        name = node.name
        if (name not in exported) if exported is not None else name.startswith("_"):
            continue
        if is_class:
            init = _class_init(node, classes, set())
            parameters, var_keyword = (
                _ast_parameters(init.args, source, kind, skip_first=True)
                if init is not None
                else ([], False)
            )
        else:
            parameters, var_keyword = _ast_parameters(node.args, source, kind, skip_first=False)
        infos.append(
            ModuleInfo(
                kind=kind,
                name=name,
                origin=origin,
                import_path=f"{module}.{name}" if module else None,
                docstring=ast.get_docstring(node, clean=True) or "",
                parameters=parameters,
                source=source,
                path=path,
                is_function=not is_class,
                var_keyword=var_keyword,
            )
        )
    return infos


def parse_code(code: str, kind: str) -> list[ModuleInfo]:
    """The modules a user's code chunk defines, read without running it.

    Raises `ParseError` (with the line number, the line and a caret) on a syntax error.
    """
    _check_kind(kind)
    return _parse_source(code, kind, "code", "code chunk")


def scan_folder(
    folder: str | os.PathLike[str],
    kind: str,
    origin: str,
    module: str | None = None,
    errors: list[str] | None = None,
) -> list[ModuleInfo]:
    """The modules of the `*.py` files in `folder` (files starting with `_` are helpers).

    `module` is the dotted package of the folder, when it is importable. Files that cannot
    be read or parsed are skipped, with a message appended to `errors`.
    """
    _check_kind(kind)
    directory = Path(folder).expanduser()
    if not directory.is_dir():
        return []
    infos: list[ModuleInfo] = []
    for file in sorted(directory.glob("*.py")):
        if file.name.startswith("_"):
            continue
        try:
            source = file.read_text(encoding="utf-8")
            infos += _parse_source(
                source,
                kind,
                origin,
                str(file),
                path=str(file),
                module=f"{module}.{file.stem}" if module else None,
            )
        except (OSError, UnicodeDecodeError, ParseError) as exc:
            if errors is not None:
                errors.append(f"{file}: {exc}")
    return infos


def scan_builtin(errors: list[str] | None = None) -> dict[str, list[ModuleInfo]]:
    """The modules in the torchstudio package's own folders."""
    return {
        kind: scan_folder(_PACKAGE_DIR / kind, kind, "torchstudio", f"torchstudio.{kind}", errors)
        for kind in KINDS
    }


# ---------------------------------------------------------------------------------------------
# Libraries, read with inspect


def _annotation_text(annotation: Any) -> str:
    if annotation is inspect.Parameter.empty:
        return ""
    if isinstance(annotation, str):
        return annotation
    return inspect.formatannotation(annotation)


def _signature_parameters(
    obj: Any, kind: str
) -> tuple[list[ParameterInfo], bool, inspect.Signature | None]:
    try:
        signature = inspect.signature(obj)
    except (TypeError, ValueError):
        return [], True, None
    parameters = []
    var_keyword = False
    for parameter in signature.parameters.values():
        if parameter.kind is parameter.VAR_KEYWORD:
            var_keyword = True
            continue
        if parameter.kind is parameter.VAR_POSITIONAL:
            continue
        default = repr(parameter.default) if parameter.default is not parameter.empty else None
        parameters.append(
            ParameterInfo(
                name=parameter.name,
                annotation=_annotation_text(parameter.annotation),
                default=default,
                required=default is None,
                filled_by_studio=_is_filled(kind, parameter.name, default),
                positional_only=parameter.kind is parameter.POSITIONAL_ONLY,
                keyword_only=parameter.kind is parameter.KEYWORD_ONLY,
            )
        )
    return parameters, var_keyword, signature


def _library_info(obj: Any, kind: str, origin: str, name: str, import_path: str) -> ModuleInfo:
    parameters, var_keyword, _ = _signature_parameters(obj, kind)
    return ModuleInfo(
        kind=kind,
        name=name,
        origin=origin,
        import_path=import_path,
        # The object's own docstring: inspect.getdoc would fall back on a base class's.
        docstring=inspect.cleandoc(obj.__doc__) if obj.__doc__ else "",
        parameters=parameters,
        is_function=not inspect.isclass(obj),
        var_keyword=var_keyword,
    )


def _classes_of(module: Any, names: Any, base: type, excluded: tuple[str, ...] = ()) -> list[Any]:
    found = []
    for name in names:
        obj = getattr(module, name, None)
        is_module = inspect.isclass(obj) and issubclass(obj, base) and obj is not base
        if is_module and name not in excluded and not name.startswith("_"):
            found.append((name, obj))
    return found


def _torchvision_datasets() -> list[ModuleInfo]:
    import torch.utils.data
    import torchvision.datasets as datasets

    return [
        _library_info(obj, "datasets", "torchvision", name, f"torchvision.datasets.{name}")
        for name, obj in _classes_of(
            datasets, datasets.__all__, torch.utils.data.Dataset, ("VisionDataset",)
        )
    ]


def _torchvision_models() -> list[ModuleInfo]:
    import torchvision.models as models

    infos = []
    for name in models.list_models():
        builder = models.get_model_builder(name)
        path = f"{builder.__module__}.{builder.__name__}"
        info = _library_info(builder, "models", "torchvision", name, path)
        infos.append(_with_class_options(info, builder))
    return infos


def _with_class_options(info: ModuleInfo, builder: Any) -> ModuleInfo:
    """Add the optional settings of the model class a builder returns (num_classes...).

    torchvision and timm builders pass **kwargs on to their model class, but their own
    signature only has the weights; the return annotation names the class.
    """
    import torch

    _, _, signature = _signature_parameters(builder, "models")
    model_class = signature.return_annotation if signature is not None else None
    if inspect.isclass(model_class) and issubclass(model_class, torch.nn.Module):
        extra, _, _ = _signature_parameters(model_class, "models")
        known = {p.name for p in info.parameters}
        info.parameters += [p for p in extra if not p.required and p.name not in known]
    return info


def _timm_models() -> list[ModuleInfo]:
    """timm's architectures (an optional library: none when it is not installed)."""
    try:
        import timm
        from timm.models import model_entrypoint
    except ImportError:
        return []
    infos = []
    for name in timm.list_models():
        builder = model_entrypoint(name)
        path = f"{builder.__module__}.{builder.__name__}"
        infos.append(
            _with_class_options(_library_info(builder, "models", "timm", name, path), builder)
        )
    return infos


def _torch_losses() -> list[ModuleInfo]:
    import torch.nn
    from torch.nn.modules import loss

    return [
        _library_info(obj, "loss", "torch", name, f"torch.nn.{name}")
        for name, obj in _classes_of(loss, dir(loss), loss._Loss, ("_WeightedLoss",))
        if getattr(torch.nn, name, None) is obj
    ]


def _torch_optimizers() -> list[ModuleInfo]:
    import torch.optim

    return [
        _library_info(obj, "optim", "torch", name, f"torch.optim.{name}")
        for name, obj in _classes_of(torch.optim, dir(torch.optim), torch.optim.Optimizer)
    ]


def _torch_schedulers() -> list[ModuleInfo]:
    from torch.optim import lr_scheduler

    bases = (lr_scheduler.LRScheduler, lr_scheduler.ReduceLROnPlateau)
    found = {}
    for base in bases:
        for name, obj in _classes_of(lr_scheduler, dir(lr_scheduler), base, ("LRScheduler",)):
            found[name] = obj
    return [
        _library_info(obj, "schedulers", "torch", name, f"torch.optim.lr_scheduler.{name}")
        for name, obj in sorted(found.items())
    ]


def _torchmetrics_metrics() -> list[ModuleInfo]:
    import torchmetrics
    from torchmetrics import classification, regression

    infos = []
    for module in (classification, regression):
        for name, obj in _classes_of(module, module.__all__, torchmetrics.Metric):
            path = f"{module.__name__}.{name}"
            infos.append(_library_info(obj, "metrics", "torchmetrics", name, path))
    return infos


def scan_library(errors: list[str] | None = None) -> dict[str, list[ModuleInfo]]:
    """Describe the library modules (slow: imports torch, torchvision and torchmetrics)."""
    result: dict[str, list[ModuleInfo]] = {kind: [] for kind in KINDS}
    scanners = (
        ("datasets", _torchvision_datasets),
        ("models", _torchvision_models),
        ("models", _timm_models),
        ("loss", _torch_losses),
        ("optim", _torch_optimizers),
        ("schedulers", _torch_schedulers),
        ("metrics", _torchmetrics_metrics),
    )
    for kind, scanner in scanners:
        try:
            result[kind] += scanner()
        except ImportError as exc:  # an optional library missing: offer the rest
            if errors is not None:
                errors.append(f"{kind}: {exc}")
    return result


def _library_versions() -> dict[str, Any]:
    from importlib import metadata

    versions: dict[str, Any] = {"format": _CACHE_FORMAT, "python": sys.version.split()[0]}
    for name in _LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def load_library(
    cache_dir: str | os.PathLike[str] | None = None,
    use_cache: bool = True,
    errors: list[str] | None = None,
) -> dict[str, list[ModuleInfo]]:
    """`scan_library`, read from (or saved to) a JSON cache keyed by the library versions."""
    key = json.dumps(_library_versions(), sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    path = Path(cache_dir or DEFAULT_CACHE_DIR).expanduser() / f"library-modules-{digest}.json"
    if use_cache:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return {kind: [ModuleInfo.from_json(d) for d in data[kind]] for kind in KINDS}
        except (OSError, ValueError, KeyError, TypeError):
            pass  # no cache yet, or an unreadable one: scan again
    result = scan_library(errors)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps(scan_to_json(result)), encoding="utf-8")
        os.replace(temporary, path)  # atomic: a concurrent reader never sees half a file
    except OSError as exc:
        if errors is not None:
            errors.append(f"cannot write the module cache {path}: {exc}")
    return result


def scan_all(
    project_modules_dir: str | os.PathLike[str] | None = None,
    user_modules_dir: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    errors: list[str] | None = None,
) -> dict[str, list[ModuleInfo]]:
    """Every module by kind: built-in, project (`<project>/modules/<kind>/`), user, libraries.

    `project_modules_dir` and `user_modules_dir` hold one sub-folder per kind; the user one
    defaults to `~/.torchstudio/modules`. Problems (unparsable files...) go to `errors`.
    """
    result = scan_builtin(errors)
    folders = [
        (project_modules_dir, "project"),
        (user_modules_dir or DEFAULT_USER_MODULES_DIR, "user"),
    ]
    for folder, origin in folders:
        if folder is None:
            continue
        base = Path(folder).expanduser()
        for kind in KINDS:
            result[kind] += scan_folder(base / kind, kind, origin, errors=errors)
    for kind, infos in load_library(cache_dir, errors=errors).items():
        result[kind] += infos
    return result


# ---------------------------------------------------------------------------------------------
# Code generation


def _check_value(name: str, text: str) -> str:
    """The value's text, ready to paste into a call; ParseError when it is not an expression."""
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        error = _syntax_error(exc, f"the value of parameter '{name}'", text)
        message = f"Invalid value for parameter '{name}': {text!r}\n{error}"
        raise ParseError(message, parameter=name, lineno=error.lineno, line=error.line) from None
    # Comments or line breaks would break the generated call: use the normalised expression.
    return ast.unparse(tree) if ("#" in text or "\n" in text) else text


def _same_expression(text: str, default: str | None) -> bool:
    """Whether a value is the default, written the same way or not ('a' and "a", 1e-3 and 0.001)."""
    if default is None:
        return False
    try:
        value, reference = ast.parse(text, mode="eval"), ast.parse(default, mode="eval")
    except SyntaxError:
        return False
    return ast.dump(value) == ast.dump(reference)


def _split_values(info: ModuleInfo, parameter: ParameterInfo) -> tuple[str, str | None]:
    """The (training, validation) values of a dataset's split parameter, as source text."""
    words: list[str] = []
    texts = [parameter.default or "", info.docstring, info.source or ""]
    if info.source is None and info.import_path:
        try:
            module, _, name = info.import_path.rpartition(".")
            texts.append(inspect.getsource(getattr(importlib.import_module(module), name)))
        except (ImportError, AttributeError, OSError, TypeError):
            pass  # without the source, the docstring has to do
    for text in texts:
        words += re.findall(r"""["']([\w+-]+)["']""", text)
    default = parameter.default or ""
    if default[1:-1] in words and "train" in default:
        train = default
    else:
        train = repr(next((w for w in ("train", "training") if w in words), "train"))
    valid = next((w for w in _VALID_SPLITS if w in words), None)
    return train, None if valid is None else repr(valid)


def _call(info: ModuleInfo, values: dict[str, str]) -> str:
    arguments = []
    for index, parameter in enumerate(info.parameters):
        if parameter.name not in values:
            continue
        value = values.pop(parameter.name)
        # The studio's model.parameters(), optimizer or root read best as a first positional.
        studio_first = index == 0 and parameter.name in ("params", "optimizer", "root")
        if parameter.positional_only or studio_first:
            arguments.append(value)
        else:
            arguments.append(f"{parameter.name}={value}")
    arguments += [f"{name}={value}" for name, value in values.items()]  # **kwargs
    return f"{info.name}({', '.join(arguments)})"


def generate_code(info: ModuleInfo, values: dict[str, str] | None = None) -> str:
    """The code chunk that defines the conventional variable of `info`'s kind.

    `values` maps parameter names to the text the user typed; empty texts and texts equal
    to the default are left out. Parameters filled by the studio get `model.parameters()`,
    `optimizer`, a dataset root (the `root` value, or `DEFAULT_DATASET_ROOT`), `download=True`
    and the training / validation splits. Raises ParseError for invalid values, unknown
    parameters and missing required ones.
    """
    known = {p.name: p for p in info.parameters}
    given: dict[str, str] = {}
    for name, raw in (values or {}).items():
        text = "" if raw is None else str(raw).strip()
        if not text:
            continue
        parameter = known.get(name)
        if parameter is None and not info.var_keyword:
            raise ParseError(f"{info.name} has no parameter named '{name}'", parameter=name)
        if not name.isidentifier():
            raise ParseError(f"'{name}' is not a valid parameter name", parameter=name)
        text = _check_value(name, text)
        is_default = parameter is not None and _same_expression(text, parameter.default)
        if is_default and not parameter.filled_by_studio:
            continue
        given[name] = text
    missing = [
        p.name
        for p in info.parameters
        if p.required and not p.filled_by_studio and p.name not in given
    ]
    if missing:
        names = ", ".join(f"'{name}'" for name in missing)
        raise ParseError(
            f"Missing value for required parameter(s) of {info.name}: {names}",
            parameter=missing[0],
        )

    head: list[str] = []
    body: list[str] = []
    if info.source is not None and info.origin in ("project", "user", "code"):
        head.append(info.source.rstrip() + "\n")
    elif info.import_path:
        module = info.import_path.rpartition(".")[0]
        head.append(f"from {module} import {info.name}")
    else:
        raise ParseError(f"{info.name} has neither source code nor an import path")

    variable = VARIABLES[info.kind]
    if "params" in known and known["params"].filled_by_studio:
        given["params"] = "model.parameters()"
    if "optimizer" in known and known["optimizer"].filled_by_studio:
        given["optimizer"] = "optimizer"
    if info.kind == "datasets":
        if "root" in known:
            head.insert(0, "import os")
            root = given.get("root", repr(DEFAULT_DATASET_ROOT))
            body.append(f"root = os.path.expanduser({root})")
            given["root"] = "root"
        if "download" in known:
            given.setdefault("download", "True")
        split_name = next(
            (n for n in _SPLIT_PARAMETERS if n in known and known[n].filled_by_studio), None
        )
        if "train" in known and known["train"].filled_by_studio:
            body.append(f"train = {_call(info, {**given, 'train': 'True'})}")
            body.append(f"valid = {_call(info, {**given, 'train': 'False'})}")
        elif split_name is not None:
            train_split, valid_split = _split_values(info, known[split_name])
            body.append(f"train = {_call(info, {**given, split_name: train_split})}")
            if valid_split is not None:
                body.append(f"valid = {_call(info, {**given, split_name: valid_split})}")
        else:
            body.append(f"train = {_call(info, given)}")
    else:
        body.append(f"{variable} = {_call(info, given)}")

    code = "\n".join(head) + "\n\n" + "\n".join(body) + "\n"
    try:
        ast.parse(code)
    except SyntaxError as exc:  # only a bug here, or a broken module source, gets this far
        raise _syntax_error(exc, "generated code", code) from None
    return code


def template(kind: str) -> str:
    """A minimal, runnable custom module of `kind` (torchstudio/templates/KIND.py).

    The optimizer and scheduler templates use the `model` and `optimizer` variables that
    the studio defines before running them.
    """
    _check_kind(kind)
    return (_PACKAGE_DIR / "templates" / f"{kind}.py").read_text(encoding="utf-8")
