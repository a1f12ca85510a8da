"""A model and the dataset as a plain Python project: dataset.py, model.py, train.py,
requirements.txt and a README, which train as the studio trains (same split, samples,
starting weights, parts, settings and order of random draws).

`project_files` is pure: the texts of the files, from the typed documents. The constant
parts are the files in export_template/, where marked lines (`# @NAME@`) take the code
and settings; `write_project` writes them.
"""

from __future__ import annotations

import ast
import textwrap
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torchstudio.app.dataset.definition import DatasetDefinition, tensor_ids
from torchstudio.app.models.document import ModelDocument
from torchstudio.app.models.service import with_class_weights

if TYPE_CHECKING:
    from torchstudio.app.store.project import Project

TEMPLATES = resources.files("torchstudio.app.models.export_template")
# The training settings train.py takes (the rest of the trainer's are its own business:
# the data mode, loader workers, distributed training).
EXPORTED_SETTINGS = ("batch_size", "epochs", "shuffle", "precision", "device", "early_stop", "seed")
SPLIT_KEYS = (
    "split_ratio",
    "split",
    "training_samples",
    "padding",
    "shuffle",
    "seed",
    "usage_ratio",
)
FILES = ("dataset.py", "model.py", "train.py", "requirements.txt", "README.md")


class ExportError(ValueError):
    """The model cannot be exported yet; the message says what to do."""


def _template(name: str) -> str:
    return TEMPLATES.joinpath(name).read_text(encoding="utf-8")


def _fill(template: str, marks: dict[str, str]) -> str:
    """`template` with each line `# @NAME@` replaced by `marks[NAME]`, at its indentation."""
    lines = []
    for line in template.splitlines():
        name = line.strip().removeprefix("# @").removesuffix("@")
        if line.strip().startswith("# @") and name in marks:
            indent = line[: len(line) - len(line.lstrip())]
            lines.append(textwrap.indent(marks[name].rstrip("\n"), indent))
        else:
            lines.append(line)
    return "\n".join(lines) + "\n"


def _literal(mapping: dict[str, Any]) -> str:
    """A settings mapping as Python, one key a line."""
    return "{\n" + "".join(f"    {key!r}: {value!r},\n" for key, value in mapping.items()) + "}"


def _assigns(code: str, name: str) -> bool:
    """Whether `code` binds `name` at its top level (so a function can return it)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return True  # the export keeps the code as it is; running it shows the error
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id == name and isinstance(node.ctx, ast.Store):
            return True
    return False


def _function(name: str, parameters: str, code: str, result: str, doc: str) -> str:
    """A function running a code chunk of the studio and returning what it defines."""
    body = textwrap.indent(code.strip("\n") or "pass", "    ")
    return f'def {name}({parameters}):\n    """{doc}"""\n{body}\n    return {result}\n'


def _parts(settings: dict[str, Any]) -> str:
    """The loss, metric, optimizer and scheduler chunks as functions, and their lists."""
    context = "model: Any, epochs: int, steps_per_epoch: int"
    blocks = ["# " + "-" * 30 + " the training parts, as the studio's Model tab sets them\n"]
    names: dict[str, list[str]] = {"loss": [], "metric": []}
    for key in ("loss", "metric"):
        for output, code in enumerate(settings.get(key) or []):
            name = f"make_{key}_{output}"
            names[key].append(name)
            blocks.append(_function(name, context, code, key, f"The {key} of output {output}."))
    blocks.append(
        _function("make_optimizer", context, settings["optimizer"], "optimizer", "The optimizer.")
    )
    scheduler = settings.get("scheduler") or ""
    blocks.append(
        _function(
            "make_scheduler",
            f"optimizer: torch.optim.Optimizer, {context}",
            scheduler or "scheduler = None  # a constant learning rate",
            "scheduler",
            "The learning rate scheduler (None: none).",
        )
    )
    blocks.append(f"LOSSES = [{', '.join(names['loss'])}]  # one per model output")
    blocks.append(f"METRICS = [{', '.join(names['metric'])}]")
    return "\n\n".join(blocks) + "\n"


def export_settings(document: ModelDocument, dataset: DatasetDefinition) -> dict[str, Any]:
    """The settings Train would start a run with now (with the last analysis' class weights
    when Class weights is on); ExportError when it could not."""
    effective = document.effective()
    settings = effective.trainer_settings(dataset.roles)
    if not settings.get("loss"):
        raise ExportError(
            "the model has no loss yet: build it (or choose a loss in its training settings) "
            "before exporting"
        )
    weights = (dataset.analysis or {}).get("weights")
    if effective["class_weights"] and weights:
        first, *others = settings["loss"]
        settings["loss"] = [with_class_weights(first, weights), *others]
    return settings


def project_files(
    model_name: str,
    document: ModelDocument,
    dataset: DatasetDefinition,
    settings: dict[str, Any],
    source: str = "",
) -> dict[str, str]:
    """The texts of the exported files, by name. `settings` are the trainer's settings
    (`export_settings`, or a run's); `source` names the project, for the README."""
    inputs, outputs = tensor_ids(dataset.roles)
    split = {key: dataset.settings.get(key) for key in SPLIT_KEYS}
    returns = "train, valid" if _assigns(dataset.code, "valid") else "train, None"
    dataset_marks = {
        "SETTINGS": (
            "# How the studio splits the samples (Dataset tab).\n"
            f"SPLIT = {_literal(split)}\n"
            "# The tensor roles of a sample's tensors, and the positions the model takes\n"
            "# (INPUTS) and compares its outputs to (OUTPUTS).\n"
            f"ROLES = {dataset.roles!r}\nINPUTS = {inputs!r}\nOUTPUTS = {outputs!r}"
        ),
        "DATASET": (dataset.code.strip("\n") or "train = None") + f"\nreturn {returns}",
    }
    # Imported here: the package module imports torch, which the app and `torchstudio run`
    # do not need until a worker does (seconds at their start).
    from torchstudio.model.package import BUILD_SEED

    model_marks = {
        "SEED": f"BUILD_SEED = {BUILD_SEED}",
        "MODEL": document.code.strip("\n") or "model = None",
    }
    chosen = {key: settings.get(key) for key in EXPORTED_SETTINGS}
    train_marks = {
        "SETTINGS": (
            "# The training settings of the studio's model (the command line changes epochs\n"
            "# and device).\n"
            f"SETTINGS = {_literal(chosen)}"
        ),
        "PARTS": _parts(settings),
    }
    return {
        "dataset.py": _fill(_template("dataset.py"), dataset_marks),
        "model.py": _fill(_template("model.py"), model_marks),
        "train.py": _fill(_template("train.py"), train_marks),
        "requirements.txt": requirements(dataset.code, document.code, settings),
        "README.md": readme(model_name, source, chosen, dataset, document),
    }


def requirements(*codes: Any) -> str:
    """The packages the files import: always torch, numpy, pillow and safetensors; the
    studio itself when a chunk uses its built-in modules; torchvision and torchmetrics
    when used."""
    text = repr(codes)
    packages = ["torch", "numpy", "pillow", "safetensors"]
    for package in ("torchvision", "torchmetrics", "scikit-learn", "schedulefree"):
        module = {"scikit-learn": "sklearn"}.get(package, package)
        if module in text:
            packages.append(package)
    if "torchstudio" in text:  # the built-in modules (datasets, models, losses, metrics...)
        packages.append("torchstudio")
    return "\n".join(packages) + "\n"


def readme(
    model_name: str,
    source: str,
    settings: dict[str, Any],
    dataset: DatasetDefinition,
    document: ModelDocument,
) -> str:
    folders = [f"- {what}: `{path}`" for what, path in (("the dataset code", dataset.workdir),
               ("the model code", document.workdir)) if path]  # fmt: skip
    workdirs = (
        "\nThe code imports modules from these folders (run from there, or put them on "
        "PYTHONPATH):\n" + "\n".join(folders) + "\n"
        if folders
        else ""
    )
    return f"""# {model_name}: exported from TorchStudio

{f"From the project `{source}`. " if source else ""}Train it as the studio trains it:

```
pip install -r requirements.txt
python train.py                       # {settings["epochs"]} epochs on {settings["device"]}
python train.py --epochs 3 --device cuda:0 --out results
```

- `dataset.py`: the dataset code, then the studio's split into training and validation
  samples (shuffle, sample usage) and the tensor roles (`INPUTS`, `OUTPUTS`).
- `model.py`: the model code; `build_model()` seeds torch's generator as the studio's
  build does, so training starts from the same weights.
- `train.py`: the training loop, with the model's loss(es), metric(s), optimizer and
  scheduler and its settings (`SETTINGS`: batch size {settings["batch_size"]}, precision
  {settings["precision"]}, seed {settings["seed"]}, early stop {settings["early_stop"]}).
  Each epoch prints a JSON line; the best weights go to `best.safetensors` (they load
  into the model with `model.load_state_dict(safetensors.torch.load_file(...))`, and in
  the studio), the last checkpoint to `checkpoint.pt`.

With the same seed, on the CPU in fp32, the losses are the studio's.
{workdirs}"""


def export_model(project: Project, model_name: str, folder: Path) -> list[Path]:
    """Export model `model_name` of `project` with the dataset into `folder`: the files
    written. KeyError: no such model; ExportError: not exportable yet."""
    if model_name not in project.model_names():
        known = ", ".join(project.model_names()) or "none"
        raise KeyError(f"no model {model_name!r} (models: {known})")
    document = ModelDocument.from_json(project.model(model_name))
    dataset = DatasetDefinition.from_json(project.document("dataset"))
    settings = export_settings(document, dataset)
    files = project_files(model_name, document, dataset, settings, project.path.name)
    return write_project(files, folder)


def write_project(files: dict[str, str], folder: Path) -> list[Path]:
    """Write the files into `folder` (made if needed); an existing one is overwritten."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in files.items():
        path = folder / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
