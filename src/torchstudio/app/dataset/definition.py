"""The Dataset tab's definition as stored in the project: a typed document and pure
functions over it, no I/O.

The definition holds the chosen module and its parameter texts, the code (generated from
them, or edited by hand), the split/shuffle/usage settings, a role and a renderer per
tensor, the analyzer, and the last load report and analysis results.

Fingerprints (see `torchstudio.app.fingerprint`) say what a derived result was made from:

- `data_fingerprint()`: what a load depends on (module, parameter values, code, workdir,
  split/shuffle/seed/usage settings). The load report records it.
- `fingerprint()` (via `with_roles`): the data fingerprint and the tensor roles: what
  builds and training runs depend on (roles pick a model's inputs and targets).
- `analysis_fingerprint()`: the data fingerprint with roles and the analyzer's code: what
  the analysis and its class weights depend on.
"""

from __future__ import annotations

import copy
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from torchstudio.app.catalog import Catalog, code_for, module_key
from torchstudio.app.checked import checked
from torchstudio.app.fingerprint import fingerprint, short
from torchstudio.data.settings import DatasetSettings
from torchstudio.pythonparse import ModuleInfo

DEFAULT_MODULE = "torchstudio:Digits"
SHUFFLE_MODES = {"none": "No shuffle", "train": "Shuffle training samples", "all": "Shuffle all"}
SPLIT_MODES = {
    "stratified": "Stratified by class",
    "random": "Random (seeded)",
    "ordered": "In dataset order",
}
ROLES = ("input", "output", "both", "none")
# The worker's defaults, one place for both: roles stay in the app (they do not re-split).
SETTINGS_DEFAULTS: dict[str, Any] = {
    key: value for key, value in DatasetSettings().to_json().items() if key != "roles"
}


def with_roles(data: str, roles: list[str]) -> str:
    """The fingerprint of loaded data (`data`, a data fingerprint) used with `roles`."""
    return fingerprint("dataset", data, list(roles))


def analysis_fingerprint_of(dataset: str, analyzer_code: str) -> str:
    """The fingerprint of an analysis of `dataset` (with roles) by `analyzer_code`."""
    return fingerprint("analysis", dataset, analyzer_code)


def _copy(value: dict[str, Any] | None) -> dict[str, Any] | None:
    return dict(value) if value else None


@dataclass
class DatasetDefinition:
    """The Dataset tab's document; `from_json` reads every version written before."""

    module: str | None = None
    values: dict[str, str] = field(default_factory=dict)
    code: str = ""
    code_edited: bool = False
    workdir: str | None = None
    settings: dict[str, Any] = field(default_factory=lambda: dict(SETTINGS_DEFAULTS))
    roles: list[str] = field(default_factory=list)
    renderers: list[dict[str, Any]] = field(default_factory=list)
    analyzer: dict[str, Any] | None = None
    # The last load report and analysis; each records the fingerprint it was made from.
    report: dict[str, Any] | None = None
    analysis: dict[str, Any] | None = None
    # Where the loader and the analyzer run: a server's name, None for this machine. Not
    # part of any fingerprint: the same code loads the same data on any machine.
    server: str | None = None

    @classmethod
    def from_json(cls, value: Any) -> DatasetDefinition:
        """The definition a project stored; DocumentError names a field of the wrong type."""
        value = checked(value, dict, "the dataset definition", "a mapping") or {}

        def field_(key: str, types: type | tuple[type, ...], what: str) -> Any:
            return checked(value.get(key), types, key, what)

        values = field_("values", dict, "a mapping of parameter texts") or {}
        renderers = field_("renderers", list, "a list") or []
        for index, entry in enumerate(renderers):
            checked(entry, dict, f"renderers[{index}]", "a mapping")
        return cls(
            module=value.get("module") if isinstance(value.get("module"), str) else None,
            values={str(k): str(v) for k, v in values.items()},
            code=str(field_("code", str, "code text") or ""),
            code_edited=bool(value.get("code_edited")),
            workdir=field_("workdir", str, "a folder path"),
            settings=stored_settings(field_("settings", dict, "a mapping")),
            roles=[str(role) for role in field_("roles", list, "a list") or []],
            renderers=[dict(entry) for entry in renderers],
            analyzer=_copy(field_("analyzer", dict, "a mapping")),
            report=_copy(field_("report", dict, "a mapping")),
            analysis=_copy(field_("analysis", dict, "a mapping")),
            server=value.get("server") if isinstance(value.get("server"), str) else None,
        )

    def to_json(self) -> dict[str, Any]:
        return copy.deepcopy(asdict(self))

    def copy(self) -> DatasetDefinition:
        return copy.deepcopy(self)

    # ------------------------------------------------------------------ fingerprints

    def data_fingerprint(self) -> str:
        """What a load depends on: module, values, code, workdir and the split settings."""
        return fingerprint(
            "data", self.module, self.values, self.code, self.workdir, fingerprinted(self)
        )

    def fingerprint(self) -> str:
        """The dataset as builds and runs use it: its data fingerprint and the roles."""
        return with_roles(self.data_fingerprint(), self.roles)

    def analyzer_code(self) -> str:
        return str((self.analyzer or {}).get("code") or "")


def new_definition(catalog: Catalog, key: str = DEFAULT_MODULE) -> DatasetDefinition:
    """A definition using module `key` with its default parameters."""
    definition = DatasetDefinition()
    info = catalog.find("datasets", key)
    return choose_module(definition, info) if info else definition


def choose_module(definition: DatasetDefinition, info: ModuleInfo) -> DatasetDefinition:
    """Pick a dataset module: its default parameters and the code they generate."""
    changed = definition.copy()
    changed.module = module_key(info)
    changed.values = {}
    code, _ = code_for(info, {})
    changed.code = code or ""
    changed.code_edited = False
    return changed


def set_value(
    definition: DatasetDefinition, info: ModuleInfo, name: str, text: str
) -> tuple[DatasetDefinition, dict[str, str]]:
    """Change one parameter's text; the code follows unless the value is invalid."""
    changed = definition.copy()
    changed.values[name] = text
    code, errors = code_for(info, changed.values)
    if code is not None:
        changed.code, changed.code_edited = code, False
    return changed, errors


def edit_code(definition: DatasetDefinition, code: str) -> DatasetDefinition:
    changed = definition.copy()
    changed.code, changed.code_edited = code, True
    return changed


def error_line(text: str, description: str = "dataset code") -> int | None:
    """The line of the user's code an error text points at (its innermost mention)."""
    lines = re.findall(rf'File "{re.escape(description)}", line (\d+)', text)
    return int(lines[-1]) if lines else None


def settings_payload(definition: DatasetDefinition) -> dict[str, Any]:
    """The split settings `datasetload` takes (roles stay in the app: they do not re-split)."""
    settings = {**SETTINGS_DEFAULTS, **definition.settings}
    return {key: settings[key] for key in SETTINGS_DEFAULTS}


# Settings added since the first projects, at the values that load what those projects
# loaded: an older document keeps them, and its fingerprints stay what they were.
LEGACY_SETTINGS: dict[str, Any] = {"split": "ordered", "padding": None}


def stored_settings(stored: dict[str, Any] | None) -> dict[str, Any]:
    """A stored definition's settings with defaults; one written before the split modes
    existed splits in dataset order, as it did (new definitions are stratified)."""
    if stored is None:
        return dict(SETTINGS_DEFAULTS)
    legacy = {} if "split" in stored else {"split": LEGACY_SETTINGS["split"]}
    return {**SETTINGS_DEFAULTS, **legacy, **stored}


def fingerprinted(definition: DatasetDefinition) -> dict[str, Any]:
    """The split settings as fingerprints see them: settings at their legacy values are
    left out (they load what projects without them loaded; no padding is None or False)."""
    payload = settings_payload(definition)
    if not payload.get("padding"):
        payload.pop("padding")
    if payload.get("split") == LEGACY_SETTINGS["split"]:
        payload.pop("split")
    return payload


def renderer_entry(
    catalog: Catalog, name: str, values: dict[str, str] | None = None
) -> dict[str, Any]:
    """A renderer choice for one tensor: a built-in renderer by name with `values` (parameter
    texts; default values where not given)."""
    info = catalog.find_name("renderers", name)
    code, _ = code_for(info, values or {}) if info else (None, {})
    return {"module": module_key(info) if info else None, "code": code or "", "custom": False}


def analyzer_entry(catalog: Catalog, name: str) -> dict[str, Any]:
    info = catalog.find_name("analyzers", name)
    code, _ = code_for(info, {}) if info else (None, {})
    return {"module": module_key(info) if info else None, "code": code or ""}


def apply_report(
    definition: DatasetDefinition, report: dict[str, Any], catalog: Catalog, data: str
) -> DatasetDefinition:
    """Keep a load report made from data fingerprint `data`, and fill roles, renderers and
    analyzer from its suggestions where the user has not chosen them for tensors like these."""
    changed = definition.copy()
    changed.report = {**{k: v for k, v in report.items() if k != "link"}, "fingerprint": data}
    count = len(report["tensors"])
    suggestions = report.get("suggestions", {})
    if len(changed.roles) != count:
        changed.roles = list(suggestions.get("roles") or report["roles"])
    if len(changed.renderers) != count:
        names = suggestions.get("renderers") or ["Bitmap"] * count
        values = suggestions.get("renderer_values") or [{}] * count
        changed.renderers = [
            renderer_entry(catalog, name, given) for name, given in zip(names, values, strict=False)
        ]
    if not changed.analyzer:
        changed.analyzer = analyzer_entry(catalog, suggestions.get("analyzer") or "Multiclass")
    return changed


def tensor_ids(roles: list[str]) -> tuple[list[int], list[int]]:
    """(input ids, output ids) from the roles; `both` counts as either."""
    inputs = [i for i, role in enumerate(roles) if role in ("input", "both")]
    outputs = [i for i, role in enumerate(roles) if role in ("output", "both")]
    return inputs, outputs


def analysis_stale_reason(analysis: dict[str, Any] | None, expected: str) -> str | None:
    """Why an analysis no longer describes the dataset (None: it does, or there is none).

    `expected` is the analysis fingerprint of the dataset and analyzer now in use.
    """
    if not analysis:
        return None
    made = analysis.get("fingerprint")
    if made == expected:
        return None
    if not made:
        return "stale: this analysis does not record which dataset it was made from"
    return (
        f"stale: the dataset or analyzer changed since this analysis (made from "
        f"{short(made)}, now {short(expected)})"
    )
