"""Building and training a project's models through `modelbuild` and `modeltrain`.

Every epoch, the best weights and the last checkpoint go to the project as they arrive.
The built model stays in memory (building again is quick and the project keeps the code).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from torchstudio.app.catalog import code_for
from torchstudio.app.dataset.service import DatasetService, StaleResult
from torchstudio.app.demo import DEMO_MODEL, new_model
from torchstudio.app.fingerprint import short
from torchstudio.app.lru import LRU
from torchstudio.app.models import definition
from torchstudio.app.models.document import Effective, ModelDocument
from torchstudio.app.models.runs import Run, code_fingerprint
from torchstudio.app.models.trackers import Mirrors, open_mirrors
from torchstudio.app.runtime.manager import WorkerEvent, WorkerHandle
from torchstudio.app.runtime.pool import WorkerPool
from torchstudio.app.store.project import Project, ProjectError
from torchstudio.remote.errors import RemoteError
from torchstudio.savequeue import BackgroundSaver
from torchstudio.train.ddp.cluster import ClusterError, train_on_hosts
from torchstudio.train.ddp.plan import parse_devices

if TYPE_CHECKING:
    from torchstudio.app.runtime.remote_servers import Servers

EpochCallback = Callable[[dict[str, Any]], None]


def with_class_weights(code: str, weights: list[float]) -> str:
    """A loss chunk that also sets the analysis' class weights, when the loss takes them.

    Losses keep their weights in a `weight` buffer (torch's and ours alike), so setting
    it works whatever module or parameters the user chose.
    """
    values = ", ".join(f"{float(w):.6g}" for w in weights)
    return (
        f"{code.rstrip()}\n\n# Class weights from the dataset analysis (Class weights: on)\n"
        "import torch as _torch\n\n"
        'if hasattr(loss, "weight"):\n'
        f"    loss.weight = _torch.tensor([{values}], dtype=_torch.float32)\n"
    )


# Settings a resumed run takes from the model as it is now, not from the run's snapshot.
RESUME_FROM_MODEL = (
    "epochs",
    "early_stop",
    "device",
    "devices",
    "dist_port",
    "compile",
    "checkpoint_every",
)


VARIANTS_KEPT = 8  # built variants of models' code kept in memory (sweep trials)


def trainer_name(name: str, slot: int = 0) -> str:
    """The worker name of model `name`'s trainer in `slot` (0: the model's own)."""
    return f"modeltrain {name}" if slot == 0 else f"modeltrain {name} #{slot}"


class ModelError(Exception):
    """A model cannot be built or trained; the message is for the user."""


@dataclasses.dataclass
class Draft:
    """A model document being edited (ModelService._editing stores it)."""

    document: ModelDocument


class ModelService:
    """Builds and trains the project's models with the loaded dataset."""

    def __init__(
        self,
        project: Project,
        pool: WorkerPool,
        dataset: DatasetService,
        servers: Servers | None = None,
    ) -> None:
        self.project = project
        self.pool = pool
        self.dataset = dataset
        self.servers = servers  # the remote servers a model may train on
        self.built: dict[str, dict[str, Any]] = {}
        self.built_from: dict[str, tuple[Any, ...]] = {}  # what each build was made of
        # built_code's builds (each holds its initial weights: the latest few are kept)
        self.variants = LRU(VARIANTS_KEPT)
        self.graphs: dict[str, dict[str, Any] | None] = {}
        self.placed: dict[str, str | None] = {}  # the server of each model's running trainer

    async def trainer(self, name: str, server: str | None, slot: int = 0) -> WorkerHandle:
        """The model's `modeltrain {name}` worker on `server` (None: here), started if needed.

        One name per model wherever it runs, so stop, infer and export find it; a trainer
        left on another machine by an earlier choice is stopped first. Slots above 0 are
        more trainers of the model, for trials of a sweep trained side by side.
        """
        worker_name = trainer_name(name, slot)
        key = name if slot == 0 else worker_name
        running = self.pool.running(worker_name)
        if running is not None and self.placed.get(key) == server:
            # Through the pool: a start in flight (begun while the model built) is waited
            # for there; its handle is listed before it is connected.
            return await self.pool.get("modeltrain", worker_name, server)
        if running is not None:
            await running.stop()
        try:
            handle = await self.pool.get("modeltrain", worker_name, server)
        except RemoteError as exc:
            raise ModelError(f"cannot start the trainer on server {server!r}: {exc}") from exc
        self.placed[key] = server
        return handle

    async def _run_training(
        self, trainer: WorkerHandle, server: str | None, request: dict[str, Any]
    ) -> dict[str, Any]:
        """`train` on the model's trainer, or on every host that `devices` names."""
        settings = request["settings"]
        hosts = parse_devices(settings.get("devices"), settings.get("device", "cpu"))
        if len(hosts) > 1:
            if self.servers is None:
                raise ModelError("a job on several servers needs the app's remote servers")
            if self.dataset.server is not None:
                raise ModelError(
                    "a job on several machines reads the dataset from this machine: load it "
                    "here (Dataset tab, Load on: this machine)"
                )
            # Host 0 is the model's own trainer: its data link is rewritten for its machine.
            first = {**settings["devices"][0], "server": server}
            settings = {**settings, "devices": [first, *settings["devices"][1:]]}
            try:
                return await train_on_hosts(
                    self.pool.manager, self.servers, trainer, {**request, "settings": settings}
                )
            except (ClusterError, RemoteError) as exc:
                raise ModelError(f"distributed training failed: {exc}") from exc
        source = self.dataset.server
        if server is not None or source is not None:
            if self.servers is None:
                raise ModelError("the dataset or the model is on a server: no servers here")
            try:
                link = await self.servers.route_link(request["link"], source, server)
            except RemoteError as exc:
                where = f"server {server!r}" if server else "this machine"
                raise ModelError(f"cannot pass the dataset to {where}: {exc}") from exc
            request = {**request, "link": link}
        return await trainer.request("train", request)

    def _build_inputs(self, document: dict[str, Any]) -> tuple[Any, ...]:
        return (document["code"], document.get("workdir"), self.dataset.fingerprint(),
                self.dataset.generation)  # fmt: skip

    # ------------------------------------------------------------------ provenance and runs

    def code_fingerprint(self, name: str) -> str:
        document = self.project.model(name)
        return code_fingerprint(document["code"], document.get("workdir"))

    def build_stale(self, name: str) -> str | None:
        """Why the model's stored build no longer matches its code or the dataset (None: it does)."""
        build = self.project.model(name).get("build")
        if not build:
            return None
        if build.get("code") != self.code_fingerprint(name):
            return "stale: the model code changed since this build"
        if build.get("dataset") != self.dataset.fingerprint():
            return (
                f"stale: built with dataset {short(build.get('dataset'))}, the dataset in use "
                f"is {short(self.dataset.fingerprint())}"
            )
        return None

    def runs(self, name: str) -> list[Run]:
        return [Run.from_record(record) for record in self.project.runs(name)]

    def latest_run(self, name: str) -> Run | None:
        record = self.project.run(name)
        return None if record is None else Run.from_record(record)

    def delete_runs(self, name: str, keep_latest: bool = True) -> None:
        """Delete the model's runs (their epochs and weights), all but the latest by default."""
        latest = self.latest_run(name)
        keep = [latest.number] if keep_latest and latest is not None else []
        self.project.delete_runs(name, keep=keep)

    def run_stale(self, run: Run) -> str | None:
        """Why a run's results no longer match the dataset or code in use (None: they do)."""
        return run.stale_reason(self.dataset.fingerprint(), self.code_fingerprint(run.model))

    def run_code(self, run: Run) -> str | None:
        """The model code run `run` trained, when it can be made again: the model's own, or
        the model's form with the values the run records (a sweep trial's); None if not."""
        document = self.document(run.model)
        if not run.code or run.code == code_fingerprint(document.code, document.workdir):
            return document.code
        info = self.dataset.catalog.find("models", document.module) if document.module else None
        if not run.model_values or info is None or document.code_edited:
            return None
        values = {**document.values, **run.model_values}
        code, errors = code_for(info, values)
        if code is None or run.code != code_fingerprint(code, document.workdir):
            return None
        return code

    def run_fits(self, run: Run) -> str | None:
        """Why run `run`'s weights cannot be used now (None: they can, with `run_code`)."""
        reason = run.dataset_stale(self.dataset.fingerprint())
        if reason is None and self.run_code(run) is None:
            reason = run.code_stale(self.code_fingerprint(run.model))
        return reason

    def weights_run(self, name: str) -> tuple[Run, bytes]:
        """The newest run with best weights, and those weights, for outputs and exports.

        A run trained on another dataset or code is refused with the reason, never used.
        """
        for run in reversed(self.runs(name)):
            best = self.project.weights(name, "best", run.number)
            if best is None:
                continue
            reason = self.run_stale(run)
            if reason:
                raise ModelError(
                    f"{reason}: its weights do not fit; train the model again (a new run), or "
                    "load the dataset it was trained on"
                )
            return run, best[1]
        raise ModelError("train the model first: there are no weights yet")

    def is_built(self, name: str) -> bool:
        """Whether the model's build in memory is of its current code and dataset."""
        return name in self.built and self.built_from.get(name) == self._build_inputs(
            self.project.model(name)
        )

    async def _modelbuild(
        self, name: str, code: str, workdir: str | None, adapt_roles: bool, graph: bool
    ) -> dict[str, Any]:
        """`modelbuild`'s report on `code` with one training sample (nothing stored)."""
        if not self.dataset.loaded:
            raise ModelError("load the dataset before building a model")
        roles = list(self.dataset.definition.roles)
        loader = await self.dataset.loader()
        sample = await loader.request("sample", {"split": "train", "index": 0})
        report = self.dataset.report or {}
        suggested = list((report.get("suggestions") or {}).get("roles") or [])
        builder = await self.pool.get("modelbuild", f"modelbuild {name}")
        return await builder.request(
            "build",
            {
                "code": code,
                "sample": [np.asarray(array)[None] for array in sample],
                "roles": roles,
                # Roles the user has not changed follow the model's inputs and outputs.
                "adapt_roles": adapt_roles and roles == suggested,
                "labels": report.get("classes") or [],
                "workdir": workdir,
                "train_count": report.get("train_count"),
                "graph": graph,
            },
        )

    async def build(self, name: str, graph: bool = False) -> dict[str, Any]:
        """Run `modelbuild` on the model's code with one training sample; returns the report."""
        document = self.project.model(name)
        roles = list(self.dataset.definition.roles) if self.dataset.loaded else []
        result = await self._modelbuild(
            name, document["code"], document.get("workdir"), True, graph
        )
        if result.get("roles") and result["roles"] != roles:
            self.dataset.set_roles(result["roles"])
            self.dataset.log.add("app", f"tensor roles follow model {name}: {result['roles']}")
        self.built[name] = result["built"]
        self.built_from[name] = self._build_inputs(document)
        if graph:
            self.graphs[name] = result.get("graph")
        summary = {k: result[k] for k in ("parameters", "outputs", "warnings", "suggestions")}
        # What this build was made from (marked stale when either changes).
        summary["code"] = code_fingerprint(document["code"], document.get("workdir"))
        summary["dataset"] = self.dataset.fingerprint()
        self.project.update_model(name, build=summary, status="built")
        return result

    async def built_code(self, name: str, code: str) -> dict[str, Any]:
        """The built model of `code`, a variant of model `name`'s (a sweep trial's form
        parameters): the model's own build when it is its code, else built for this use
        (kept for the same code and dataset, never stored in the project)."""
        document = self.project.model(name)
        if code == document["code"]:
            if not self.is_built(name):
                await self.build(name)
            return self.built[name]
        key = (name, code, document.get("workdir"), self.dataset.fingerprint(),
               self.dataset.generation)  # fmt: skip
        if key not in self.variants:
            result = await self._modelbuild(name, code, document.get("workdir"), False, False)
            self.variants.put(key, result["built"])
        return self.variants[key]

    def log(self, text: str) -> None:
        """A line of what the user did and what came of it, in the app's log."""
        self.dataset.log.add("app", text)

    def resume_refusal(self, name: str) -> str | None:
        """Why the model's latest run cannot go on (None: Resume can), without reading weights."""
        run = self.latest_run(name)
        if run is None:
            return f"cannot resume {name}: it has no run yet; Train starts run 1"
        if self.project.weights_epoch(name, "checkpoint", run.number) is None:
            return (
                f"cannot resume {run.label} of {name}: it has no checkpoint (it stopped before "
                f"its first epoch ended); Train starts run {run.number + 1}"
            )
        reason = self.run_stale(run)
        return f"cannot resume: {reason}; Train starts a new run" if reason else None

    def _resume_point(self, name: str) -> tuple[Run, tuple[int, bytes], tuple[int, bytes] | None]:
        """The latest run, its own checkpoint and best weights; ModelError when it cannot go on."""
        refusal = self.resume_refusal(name)
        run = self.latest_run(name)
        checkpoint = None if run is None else self.project.weights(name, "checkpoint", run.number)
        if refusal is not None or run is None or checkpoint is None:
            raise ModelError(refusal or f"cannot resume {name}")
        return run, checkpoint, self.project.weights(name, "best", run.number)

    async def _build_while_the_trainer_starts(
        self, name: str, settings_from: ModelDocument | None
    ) -> None:
        """Build the model; its trainer on this machine starts meanwhile (a process and its
        imports: seconds), and `trainer` then finds it running."""
        typed = settings_from or ModelDocument.from_json(self.project.model(name))
        if typed.settings.server is None:
            starting = asyncio.ensure_future(self.trainer(name, None))
            # A start that fails is tried again, and reported, when the training asks.
            starting.add_done_callback(lambda done: done.cancelled() or done.exception())
        await self.build(name)

    async def train(
        self,
        name: str,
        on_epoch: EpochCallback | None = None,
        resume: bool = False,
        settings_from: ModelDocument | None = None,
        run_name: str | None = None,
        slot: int = 0,
        **overrides: Any,
    ) -> dict[str, Any]:
        """Train a built model as a new run; every epoch, best weights and checkpoint are saved
        to that run as they come.

        With `resume`, the model's latest run goes on from its own checkpoint with its own
        settings (ModelError when it has none). `settings_from` is the model's document with
        this run's settings (`torchstudio run --set`), not stored; default: the stored one.
        `run_name` names the run (kept in its summary; a resumed run keeps its name unless
        given another). `on_epoch` gets each epoch's record with its `run` number; the
        result has it too. `slot` picks the trainer (`trainer`): sweeps train trials in
        slots 1.. side by side.
        """
        if not self.dataset.loaded:  # e.g. its server's connection dropped meanwhile
            raise ModelError("load the dataset first (Dataset tab, Load): it is not loaded")
        if not self.is_built(name):  # never train code older than the project's
            await self._build_while_the_trainer_starts(name, settings_from)
        document = self.project.model(name)
        typed = settings_from or ModelDocument.from_json(document)
        # A sweep trial's form parameters make other code: the run trains (and is) that code.
        code = typed.code if not resume else document["code"]
        request: dict[str, Any] = {"link": self.dataset.link}
        if resume:
            run, checkpoint, best = self._resume_point(name)
            run_name = run_name or run.name
            # The run goes on with what it trained with, except how long, where, compiled how
            # and saved how often: those are the model's settings now (more epochs, another
            # machine), then `overrides`.
            now = typed.effective()
            merged = {
                **run.settings,
                **{key: now[key] for key in RESUME_FROM_MODEL},
                **{k: v for k, v in overrides.items() if v is not None},
            }
            settings = {k: v for k, v in merged.items() if v is not None}
            number = run.number
            request["checkpoint"] = checkpoint[1]
            if best is not None:
                request["best_weights"] = best[1]
            # Epochs past the checkpoint are redone.
            self.project.clear_epochs(name, number, checkpoint[0])
            self.project.update_run(name, number, status="training", settings=settings)
        else:
            roles = self.dataset.definition.roles
            effective = typed.effective()
            settings = effective.trainer_settings(roles, **overrides)
            if effective["class_weights"] and settings["loss"]:
                try:
                    weights = self.dataset.class_weights()
                except StaleResult as exc:
                    raise ModelError(str(exc)) from exc
                if weights:
                    first, *others = settings["loss"]
                    settings["loss"] = [with_class_weights(first, weights), *others]
            number = self.project.add_run(
                name,
                settings,
                dataset=self.dataset.fingerprint(),
                code=code_fingerprint(code, document.get("workdir")),
            )
        named = {"name": run_name} if run_name else {}
        if typed.module and typed.values and code != document["code"]:
            named["model_values"] = dict(typed.values)  # what the run's code differs in
        if named:  # known while it trains, before its summary comes
            self.project.update_run(name, number, summary=named)
        request["settings"] = settings
        worker_name = trainer_name(name, slot)
        server = typed.settings.server
        trainer = await self.trainer(name, server, slot)

        save_errors: list[str] = []  # a full disk: the training stops with this error
        mirrors = Mirrors([])  # TensorBoard / MLflow (the `log` setting), opened below

        def store(kind: str, weights: tuple[int, bytes]) -> None:
            self.project.set_weights(name, number, kind, *weights)

        # Weights are stored on a thread: writing and flushing a resnet18's 135 MB checkpoint
        # held the event loop (and the next epoch's line) for 0.1-0.6 s. A checkpoint still
        # waiting when a newer one comes is dropped, so at most about two of each are held.
        writer = BackgroundSaver(store)

        def on_event(event: WorkerEvent) -> None:
            if event.worker != worker_name or event.kind != "message":
                return
            kind, value = event.data
            try:
                if kind == "epoch":
                    value = {**value, "received": time.time()}  # when it reached the app
                    self.project.add_epoch(name, number, int(value["epoch"]), value)
                    if on_epoch is not None:
                        on_epoch({**value, "run": number})
                    mirrors.epoch(value)
                elif kind in ("best", "checkpoint"):
                    weights = int(value["epoch"]), value["weights" if kind == "best" else "data"]
                    writer.put(kind, lambda weights=weights: weights)  # raises a failed store's
                    if kind == "best":
                        mirrors.best(*weights)
            except ProjectError as exc:
                if not save_errors:
                    asyncio.ensure_future(trainer.request("cancel")).add_done_callback(
                        lambda future: future.exception()  # it may have ended already
                    )
                save_errors.append(str(exc))

        unsubscribe = self.pool.manager.subscribe(on_event)
        self.project.update_model(name, status="training")
        try:
            try:
                mirrors = open_mirrors(
                    typed.effective()["log"], self.project.path.parent, self.project.path.stem,
                    name, number, run_name, settings,
                )  # fmt: skip
            except ValueError as exc:
                raise ModelError(str(exc)) from exc
            request = {"built": await self.built_code(name, code), **request}
            result = await self._run_training(trainer, server, request)
            try:
                await asyncio.to_thread(writer.close)  # every weight stored, or its error
            except ProjectError as exc:
                save_errors.append(str(exc))
            if save_errors:
                raise ModelError(save_errors[0])
        except Exception:
            mirrors.finish("error")
            # A full disk: the error says so already.
            with contextlib.suppress(ProjectError), self.project.transaction():
                self.project.update_model(name, status="error")
                self.project.update_run(name, number, status="error")
            raise
        finally:
            unsubscribe()
            with contextlib.suppress(ProjectError):  # a failed training keeps what came
                await asyncio.to_thread(writer.close)
        summary = {**{k: v for k, v in result.items() if k != "history"}, **named}
        status = "stopped" if str(summary.get("reason") or "").startswith("stopped") else "finished"
        mirrors.finish(status)
        if mirrors.errors:  # the training went on without them
            summary["mirror_errors"] = mirrors.errors
        with self.project.transaction():
            self.project.update_model(name, status="finished", training=summary)
            self.project.update_run(name, number, status=status, summary=summary)
        return {
            **result,
            "run": number,
            **({"mirror_errors": mirrors.errors} if mirrors.errors else {}),
        }

    # ------------------------------------------------------------------ editing
    # What the Model tabs change: load the document, apply a pure edit (definition.py),
    # store the result, in one transaction.

    def document(self, name: str) -> ModelDocument:
        """Model `name`'s document, typed (DocumentError names a field of the wrong type)."""
        return ModelDocument.from_json(self.project.model(name))

    def effective(self, name: str) -> Effective:
        """Model `name`'s training settings as they apply, and which are suggested."""
        return self.document(name).effective()

    @contextlib.contextmanager
    def _editing(self, name: str) -> Iterator[Draft]:
        """A draft of model `name`'s document; stored at the end, in the same transaction,
        when it changed."""
        with self.project.transaction():
            before = self.document(name)
            draft = Draft(before)
            yield draft
            if draft.document != before:
                self.project.set_model(name, draft.document.to_json())

    def add(self, module_name: str = DEMO_MODEL) -> str:
        """A new model tab with built-in model `module_name`; returns the name it got."""
        return self.project.add_model(module_name, new_model(self.dataset.catalog, module_name))

    def duplicate(self, name: str, new_name: str | None = None) -> str:
        """A copy with the code and every setting, but no build or results; returns its name."""
        copy = definition.duplicate(self.document(name))
        return self.project.add_model(new_name or name, copy.to_json())

    def rename(self, name: str, new_name: str) -> str:
        """Rename a model (a taken name raises ProjectError); returns the name used."""
        new_name = definition.clean_name(new_name)
        if new_name != name:
            self.project.rename_model(name, new_name)
        return new_name

    def delete(self, name: str) -> None:
        self.project.delete_model(name)

    def set_closed(self, name: str, closed: bool) -> None:
        """Close a model's tab (it stays in the project) or open it again."""
        with self._editing(name) as edit:
            edit.document = dataclasses.replace(edit.document, closed=closed)

    def choose_module(self, name: str, key: str) -> str:
        """Use model module `key` with its default parameters; returns the new code."""
        info = self.dataset.catalog.find("models", key)
        if info is None:
            raise KeyError(f"no model module {key}")
        with self._editing(name) as edit:
            edit.document = definition.choose_module(edit.document, info)
        return edit.document.code

    def set_value(self, name: str, parameter: str, text: str) -> str:
        """Change one parameter of the model module; returns the error text ('' if valid)."""
        with self._editing(name) as edit:
            info = self.dataset.catalog.find("models", edit.document.module or "")
            edit.document, error = definition.set_value(edit.document, info, parameter, text)
        return error

    def set_code(self, name: str, code: str) -> None:
        with self._editing(name) as edit:
            edit.document = definition.set_code(edit.document, code)

    def choose_part(self, name: str, key: str, module: str, output: int = 0) -> str:
        """Use module `module` for training part `key` (of `output`); returns its code."""
        with self._editing(name) as edit:
            edit.document = definition.choose_part(
                edit.document, self.dataset.catalog, key, module, output
            )
        return edit.document.effective().chunk(key, output)

    def set_part_value(
        self, name: str, key: str, parameter: str, text: str, output: int = 0
    ) -> str:
        """Change one parameter of a training part; returns the error text ('' if valid)."""
        catalog = self.dataset.catalog
        with self._editing(name) as edit:
            edit.document, error = definition.set_part_value(
                edit.document, catalog, key, parameter, text, output
            )
        return error

    def set_part_code(self, name: str, key: str, code: str, output: int = 0) -> None:
        with self._editing(name) as edit:
            edit.document = definition.set_part_code(edit.document, key, code, output)

    def set_setting(self, name: str, key: str, text: Any) -> None:
        """Setting `key` from its text ('' clears it); ValueError says what is wrong."""
        value = definition.parse_setting(key, text)
        with self._editing(name) as edit:
            edit.document = definition.set_setting(edit.document, key, value)

    def set_placement(
        self, name: str, server: str | None, devices: Any, known_servers: list[str]
    ) -> None:
        """Where model `name` trains: its server and devices (checked first)."""
        with self._editing(name) as edit:
            edit.document = definition.set_placement(edit.document, server, devices, known_servers)

    def accept_suggestion(self, name: str, key: str, output: int = 0) -> None:
        """The value suggested for `key` (of `output`) becomes the user's own."""
        with self._editing(name) as edit:
            edit.document = definition.accept_suggestion(edit.document, key, output)
