"""The project store: one SQLite file (`.tsproj`) holding a whole TorchStudio project.

Every write is one transaction (write-ahead log, full sync), so killing the app at any
moment leaves a file that opens with everything up to the last completed change. Opening
checks the file before trusting it (SQLite header, size against the header's page count,
application id, `quick_check`, schema version) and refuses a damaged or foreign file with
a clear `ProjectError`. The store only keeps code as text: opening never runs any of it.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sqlite3
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from torchstudio.app.events import ChangeBus, Topic
from torchstudio.app.store import weightfiles
from torchstudio.app.store.contents import ContentError, check_contents
from torchstudio.app.store.names import name_problem, safe_name
from torchstudio.app.store.schema import APPLICATION_ID, MIGRATIONS, SCHEMA, SCHEMA_VERSION
from torchstudio.app.store.weights import check_safetensors

SUFFIX = ".tsproj"
# SQLite's largest page: a checkpoint is written in a sixteenth of the pages (and WAL frames)
# of the default 4 KiB, which halves the time a resnet18's 135 MB take to store.
PAGE_SIZE = 65536
# SQLite copies the write-ahead log into the file once it holds this much (SQLite counts
# pages, 4 MiB at its default page size): the log stays as small with any page size.
WAL_CHECKPOINT_BYTES = 4 * 2**20
_MAGIC = b"SQLite format 3\x00"


class ProjectError(Exception):
    """The project file cannot be created or opened; the message is for the user."""


def _dumps(value: Any) -> str:
    # Analyzer states and reports may carry numpy scalars: store them as plain numbers.
    return json.dumps(value, default=lambda v: v.item() if hasattr(v, "item") else str(v))


def resolved(path: str | os.PathLike[str]) -> Path:
    """The absolute, symlink-free form of a project path; ProjectError when it cannot be had."""
    try:
        return Path(path).expanduser().resolve()
    except (RuntimeError, OSError) as exc:  # a symbolic link loop, a name too long...
        raise ProjectError(f"cannot use the project path {path}: {exc}") from None


def _check_name(name: str) -> None:
    problem = name_problem(name)
    if problem is not None:
        raise ProjectError(problem)


def check_file_header(path: Path) -> None:
    """Refuse a file that is not SQLite or is shorter than its own header says (truncated)."""
    try:
        size = path.stat().st_size
        with path.open("rb") as file:
            header = file.read(100)
    except OSError as exc:
        raise ProjectError(f"cannot read the project {path}: {exc.strerror}") from exc
    if len(header) < 100 or not header.startswith(_MAGIC):
        raise ProjectError(f"{path} is not a TorchStudio project (not an SQLite database file)")
    sidecars = [Path(f"{path}{suffix}") for suffix in ("-wal", "-journal")]
    if any(p.exists() for p in sidecars):
        return  # an interrupted write: SQLite recovers it on open, then quick_check judges
    (page_size,) = struct.unpack_from(">H", header, 16)
    page_size = 65536 if page_size == 1 else page_size
    change_counter, page_count = struct.unpack_from(">II", header, 24)
    (valid_for,) = struct.unpack_from(">I", header, 92)
    if valid_for == change_counter and size < page_size * page_count:
        raise ProjectError(
            f"the project {path} is truncated ({size} bytes, its header says "
            f"{page_size * page_count}): it was cut off while being written or copied; "
            "nothing was loaded from it"
        )


class Project:
    """An open project file. Use `Project.create(path)` or `Project.open(path)`."""

    def __init__(self, path: Path, connection: sqlite3.Connection) -> None:
        self.path = path
        self._db = connection
        self._lock = threading.RLock()  # the app writes from its loop and from threads
        # Changes are announced once their transaction has committed (never a rolled-back one).
        self.changes = ChangeBus()  # the app's bus once a Studio opens it
        self._pending: list[tuple[Topic, str | None]] = []
        # What opening had to repair (dropped triggers, renamed models): for the user.
        self.notices: list[str] = []
        self._seen_version = self._data_version()

    # ------------------------------------------------------------------ opening and closing

    @staticmethod
    def _connect(path: Path, page_size: int | None = None) -> sqlite3.Connection:
        """`page_size`: a new file's (fixed once it has a header, in WAL mode for good)."""
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10)
        if page_size is not None:
            db.execute(f"PRAGMA page_size={page_size}")
        db.execute("PRAGMA journal_mode=WAL")
        pages = max(1, WAL_CHECKPOINT_BYTES // db.execute("PRAGMA page_size").fetchone()[0])
        db.execute(f"PRAGMA wal_autocheckpoint={pages}")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA foreign_keys=ON")
        # Whatever a file's schema holds, it may not call functions with side effects.
        db.execute("PRAGMA trusted_schema=OFF")
        return db

    @classmethod
    def create(
        cls, path: str | os.PathLike[str], overwrite: bool = False, page_size: int = PAGE_SIZE
    ) -> Project:
        """A new, empty project file at `path`."""
        target = resolved(path)
        if target.exists():
            if not overwrite:
                raise ProjectError(f"{target} already exists")
            target.unlink()
            weightfiles.sweep(weightfiles.folder_of(target), set(), now=float("inf"))
        for suffix in ("-wal", "-shm", "-journal"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)
        if not target.parent.is_dir():
            raise ProjectError(f"the folder {target.parent} does not exist")
        db = cls._connect(target, page_size)
        project = cls(target, db)
        db.executescript(
            "BEGIN IMMEDIATE;"
            + SCHEMA
            + f"PRAGMA application_id={APPLICATION_ID}; PRAGMA user_version={SCHEMA_VERSION};"
            + "COMMIT;"
        )
        project.set_meta("created", time.strftime("%Y-%m-%d %H:%M:%S"))
        return project

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> Project:
        """Open and check an existing project, migrating an older schema; ProjectError if not."""
        target = resolved(path)
        if not target.is_file():
            raise ProjectError(f"there is no project file at {target}")
        check_file_header(target)
        try:
            db = cls._connect(target)
            app_id = db.execute("PRAGMA application_id").fetchone()[0]
            if app_id != APPLICATION_ID:
                db.close()
                raise ProjectError(f"{target} is an SQLite file but not a TorchStudio project")
            check = db.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                db.close()
                raise ProjectError(f"the project {target} is damaged ({check}); nothing was loaded")
            version = db.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise ProjectError(
                f"the project {target} is damaged or truncated ({exc}); nothing was loaded"
            ) from exc
        if version > SCHEMA_VERSION:
            db.close()
            raise ProjectError(
                f"{target} was written by a newer TorchStudio (project version {version}, "
                f"this one reads up to {SCHEMA_VERSION})"
            )
        project = cls(target, db)
        project._drop_schema_code()
        project._migrate(version)
        try:
            with project._lock:
                check_contents(project._db)
        except ContentError as exc:
            project.close()
            raise ProjectError(f"the project {target}: {exc}; nothing was loaded") from None
        project._fix_model_names()
        project._sweep_weight_files()
        return project

    def _drop_schema_code(self) -> None:
        """Drop the triggers and views a project file brought along (TorchStudio makes none).

        A trigger runs inside the app's own writes: it could rewrite the model code after
        the user trusted what they read. Dropped before anything writes, with a notice.
        """
        with self._lock:
            rows = self._db.execute(
                "SELECT type, name FROM sqlite_master WHERE type IN ('trigger', 'view')"
            ).fetchall()
        if not rows:
            return
        try:
            with self.transaction() as cursor:
                for kind, name in rows:
                    cursor.execute(f'DROP {kind.upper()} IF EXISTS "{name.replace(chr(34), "")}"')
        except sqlite3.Error as exc:
            self.close()
            raise ProjectError(
                f"the project {self.path} holds SQLite {rows[0][0]}s, which TorchStudio projects "
                f"never do, and they could not be removed ({exc}); nothing was loaded"
            ) from exc
        listed = ", ".join(f"{kind} {name!r}" for kind, name in rows)
        self.notices.append(
            f"the project file held {listed}, which TorchStudio projects never do (a trigger "
            "can rewrite code behind your back): removed"
        )

    def _fix_model_names(self) -> None:
        """Rename models whose names a project file got from elsewhere are not valid."""
        with self._lock:
            rows = self._db.execute("SELECT id, name FROM models ORDER BY id").fetchall()
        taken = {name for _, name in rows if isinstance(name, str)}
        for model_id, name in rows:
            problem = name_problem(name)
            if problem is None:
                continue
            fixed = safe_name(name, taken)
            taken.add(fixed)
            with self.transaction() as cursor:
                cursor.execute("UPDATE models SET name = ? WHERE id = ?", (fixed, model_id))
            self.notices.append(f"model {name!r} renamed {fixed!r}: {problem}")

    def _data_version(self) -> int:
        with self._lock:
            return int(self._db.execute("PRAGMA data_version").fetchone()[0])

    def changed_outside(self) -> bool:
        """True when another connection (another process) wrote to the file since
        `mark_seen` (or opening): this connection's own writes do not count."""
        return self._data_version() != self._seen_version

    def mark_seen(self) -> None:
        """Take the file as it is now as the reference for `changed_outside`."""
        self._seen_version = self._data_version()

    def _migrate(self, version: int) -> None:
        if version == SCHEMA_VERSION:
            return
        if version not in MIGRATIONS:
            raise ProjectError(f"{self.path} has an unknown project version {version}")
        # Tables are rebuilt: foreign keys would fire half-way (the pragma is per connection).
        self._db.execute("PRAGMA foreign_keys=OFF")
        try:
            script = "BEGIN IMMEDIATE;"
            for step in range(version, SCHEMA_VERSION):
                script += MIGRATIONS[step]
            script += f"PRAGMA user_version={SCHEMA_VERSION}; COMMIT;"
            with self._lock:
                try:
                    self._db.executescript(script)
                except sqlite3.Error as exc:
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
                    raise ProjectError(f"cannot upgrade {self.path}: {exc}") from exc
        finally:
            self._db.execute("PRAGMA foreign_keys=ON")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def save_as(self, path: str | os.PathLike[str]) -> Project:
        """Copy the whole project to `path` (consistent snapshot) and return it, open."""
        target = resolved(path)
        if target == self.path:
            return self
        # A copy in WAL mode takes its source's page size: SQLite cannot change it there.
        with self._lock:
            page_size = self._db.execute("PRAGMA page_size").fetchone()[0]
        copy = Project.create(target, overwrite=True, page_size=page_size)
        with self._lock, copy._lock:
            self._db.backup(copy._db)
            weightfiles.copy(self.weights_folder, copy.weights_folder, self._weight_files())
        copy.mark_seen()
        return copy

    @property
    def weights_folder(self) -> Path:
        """Where this project's large weights are files (store/weightfiles.py)."""
        return weightfiles.folder_of(self.path)

    def _weight_files(self, where: str = "", args: tuple[Any, ...] = ()) -> list[str]:
        """The weight files named by the rows of `weights` that `where` selects."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT file FROM weights WHERE file IS NOT NULL {where}", args
            ).fetchall()
        return [row[0] for row in rows]

    def _sweep_weight_files(self) -> None:
        weightfiles.sweep(self.weights_folder, set(self._weight_files()))

    def _drop_weight_files(self, names: list[str]) -> None:
        """Remove these files once no row names them (after the commit that dropped them)."""
        if names:
            named = set(self._weight_files())
            weightfiles.remove(self.weights_folder, [n for n in names if n not in named])

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Cursor]:
        """One atomic write: everything inside commits together or not at all.

        A write the disk has no room for raises ProjectError saying so; the file keeps
        its previous state (the write-ahead log never reaches the database half-done).
        """
        with self._lock:
            cursor = self._db.cursor()
            if self._db.in_transaction:  # nested: the outer transaction commits
                yield cursor
                return
            try:
                cursor.execute("BEGIN IMMEDIATE")
                try:
                    yield cursor
                    cursor.execute("COMMIT")
                except BaseException:
                    self._pending.clear()
                    # SQLite may have rolled back already (a full disk does that).
                    if self._db.in_transaction:
                        with contextlib.suppress(sqlite3.Error):
                            cursor.execute("ROLLBACK")
                    raise
            except sqlite3.OperationalError as exc:
                error = self._write_error(exc)
                if error is None:
                    raise
                raise error from exc
            pending, self._pending = self._pending, []
        # Announced outside the lock: a subscriber reading the project from another thread
        # does not wait for this one.
        for topic, model in pending:
            self.changes.emit(topic, model)

    def _notify(self, topic: Topic, model: str | None = None) -> None:
        """Announce `topic` once the current transaction commits."""
        if (topic, model) not in self._pending:
            self._pending.append((topic, model))

    def _file_error(self, exc: OSError, path: Path) -> ProjectError:
        """A full disk or a failed write of a weights file, said as `_write_error` says it."""
        if exc.errno == errno.ENOSPC:
            return ProjectError(
                f"the disk is full: cannot save to the project {self.path} ({path}); "
                "the change was not saved and the project keeps its previous state"
            )
        return ProjectError(
            f"cannot write the project {self.path} ({path}: {exc.strerror or exc}); "
            "the change was not saved and the project keeps its previous state"
        )

    def _write_error(self, exc: sqlite3.OperationalError) -> ProjectError | None:
        """A clear ProjectError for a full disk or a failed write; None for other errors."""
        name = getattr(exc, "sqlite_errorname", "")
        if name == "SQLITE_FULL" or "disk is full" in str(exc):
            return ProjectError(
                f"the disk is full: cannot save to the project {self.path} ({exc}); "
                "the change was not saved and the project keeps its previous state"
            )
        if name.startswith("SQLITE_IOERR"):
            return ProjectError(
                f"cannot write the project {self.path} ({exc}); "
                "the change was not saved and the project keeps its previous state"
            )
        return None

    def _one(self, sql: str, args: tuple[Any, ...] = ()) -> Any:
        with self._lock:
            row = self._db.execute(sql, args).fetchone()
        return None if row is None else row[0]

    # ------------------------------------------------------------------ meta and documents

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction() as cursor:
            cursor.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def meta(self, key: str) -> str | None:
        return self._one("SELECT value FROM meta WHERE key = ?", (key,))

    def set_document(self, name: str, value: Any) -> None:
        """Store a JSON document (the dataset definition, app settings...) under `name`."""
        with self.transaction() as cursor:
            if name == "dataset":
                self._notify("dataset")
            cursor.execute("INSERT OR REPLACE INTO documents VALUES (?, ?)", (name, _dumps(value)))

    def document(self, name: str, default: Any = None) -> Any:
        text = self._one("SELECT value FROM documents WHERE name = ?", (name,))
        return default if text is None else json.loads(text)

    def set_blob(self, name: str, data: bytes | None) -> None:
        """Store bytes (a report image...) under `name`; None removes them."""
        with self.transaction() as cursor:
            self._notify("dataset")
            if data is None:
                cursor.execute("DELETE FROM blobs WHERE name = ?", (name,))
            else:
                cursor.execute("INSERT OR REPLACE INTO blobs VALUES (?, ?)", (name, bytes(data)))

    def blob(self, name: str) -> bytes | None:
        return self._one("SELECT data FROM blobs WHERE name = ?", (name,))

    def document_names(self) -> list[str]:
        with self._lock:
            rows = self._db.execute("SELECT name FROM documents ORDER BY name").fetchall()
        return [row[0] for row in rows]

    # ------------------------------------------------------------------ models

    def _model_id(self, name: str) -> int:
        model_id = self._one("SELECT id FROM models WHERE name = ?", (name,))
        if model_id is None:
            raise KeyError(f"no model named {name!r} in the project")
        return int(model_id)

    def model_names(self) -> list[str]:
        with self._lock:
            rows = self._db.execute("SELECT name FROM models ORDER BY position, id").fetchall()
        return [row[0] for row in rows]

    def add_model(self, name: str, value: dict[str, Any]) -> str:
        """Add a model; a taken name gets a number (`name 2`). Returns the name used."""
        _check_name(name)
        with self.transaction() as cursor:
            self._notify("models")
            taken = {row[0] for row in cursor.execute("SELECT name FROM models")}
            unique, number = name, 2
            while unique in taken:
                unique, number = f"{name} {number}", number + 1
            _check_name(unique)
            position = cursor.execute("SELECT COALESCE(MAX(position), -1) + 1 FROM models")
            cursor.execute(
                "INSERT INTO models (name, position, value) VALUES (?, ?, ?)",
                (unique, position.fetchone()[0], _dumps(value)),
            )
        return unique

    def model(self, name: str) -> dict[str, Any]:
        text = self._one("SELECT value FROM models WHERE name = ?", (name,))
        if text is None:
            raise KeyError(f"no model named {name!r} in the project")
        return json.loads(text)

    def set_model(self, name: str, value: dict[str, Any]) -> None:
        with self.transaction() as cursor:
            self._notify("model", name)
            cursor.execute(
                "UPDATE models SET value = ? WHERE id = ?", (_dumps(value), self._model_id(name))
            )

    def update_model(self, name: str, **changes: Any) -> dict[str, Any]:
        """Change some keys of a model's document in one transaction; returns the new one."""
        with self.transaction():
            value = {**self.model(name), **changes}
            self.set_model(name, value)
        return value

    def rename_model(self, name: str, new_name: str) -> None:
        _check_name(new_name)
        with self.transaction() as cursor:
            self._notify("models")
            try:
                cursor.execute(
                    "UPDATE models SET name = ? WHERE id = ?", (new_name, self._model_id(name))
                )
            except sqlite3.IntegrityError as exc:
                raise ProjectError(f"a model named {new_name!r} already exists") from exc

    def delete_model(self, name: str) -> None:
        with self.transaction() as cursor:
            self._notify("models")
            model_id = self._model_id(name)
            files = self._weight_files(
                "AND run_id IN (SELECT id FROM runs WHERE model_id = ?)", (model_id,)
            )
            cursor.execute("DELETE FROM models WHERE id = ?", (model_id,))
        self._drop_weight_files(files)

    # ------------------------------------------------------------------ runs

    def _run_id(self, model: str, run: int | None = None) -> int | None:
        """The id of the model's run number `run` (None: its latest run); None if none."""
        model_id = self._model_id(model)
        if run is None:
            found = self._one(
                "SELECT id FROM runs WHERE model_id = ? ORDER BY number DESC LIMIT 1", (model_id,)
            )
        else:
            found = self._one(
                "SELECT id FROM runs WHERE model_id = ? AND number = ?", (model_id, int(run))
            )
        return None if found is None else int(found)

    def _existing_run_id(self, model: str, run: int) -> int:
        run_id = self._run_id(model, run)
        if run_id is None:
            raise KeyError(f"model {model!r} has no run {run}")
        return run_id

    def add_run(
        self,
        model: str,
        settings: dict[str, Any],
        dataset: str,
        code: str,
        status: str = "training",
    ) -> int:
        """Start a new run of `model` (numbered after its last one); returns its number.

        `dataset` and `code` are the fingerprints of the dataset and model code it trains on.
        """
        with self.transaction() as cursor:
            self._notify("epochs", model)
            model_id = self._model_id(model)
            number = cursor.execute(
                "SELECT COALESCE(MAX(number), 0) + 1 FROM runs WHERE model_id = ?", (model_id,)
            ).fetchone()[0]
            cursor.execute(
                "INSERT INTO runs (model_id, number, created, status, settings, dataset, code, "
                "summary) VALUES (?, ?, ?, ?, ?, ?, ?, '{}')",
                (model_id, number, time.time(), status, _dumps(settings), dataset, code),
            )
        return int(number)

    def runs(self, model: str) -> list[dict[str, Any]]:
        """The model's runs, oldest first: id, model, number, created, status, settings,
        dataset and code fingerprints, summary."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, number, created, status, settings, dataset, code, summary FROM runs "
                "WHERE model_id = ? ORDER BY number",
                (self._model_id(model),),
            ).fetchall()
        return [
            {
                "id": row[0],
                "model": model,
                "number": row[1],
                "created": row[2],
                "status": row[3],
                "settings": json.loads(row[4]),
                "dataset": row[5],
                "code": row[6],
                "summary": json.loads(row[7]),
            }
            for row in rows
        ]

    def run(self, model: str, run: int | None = None) -> dict[str, Any] | None:
        """One run of the model (None: its latest), as `runs` gives it; None if there is none."""
        runs = self.runs(model)
        if run is None:
            return runs[-1] if runs else None
        return next((r for r in runs if r["number"] == int(run)), None)

    def update_run(
        self,
        model: str,
        run: int,
        status: str | None = None,
        summary: dict[str, Any] | None = None,
        settings: dict[str, Any] | None = None,
    ) -> None:
        with self.transaction() as cursor:
            self._notify("epochs", model)
            run_id = self._existing_run_id(model, run)
            if settings is not None:
                cursor.execute(
                    "UPDATE runs SET settings = ? WHERE id = ?", (_dumps(settings), run_id)
                )
            if status is not None:
                cursor.execute("UPDATE runs SET status = ? WHERE id = ?", (status, run_id))
            if summary is not None:
                cursor.execute(
                    "UPDATE runs SET summary = ? WHERE id = ?", (_dumps(summary), run_id)
                )

    def delete_runs(self, model: str, keep: list[int] | None = None) -> None:
        """Delete the model's runs (their epochs and weights too) except the numbers in `keep`."""
        kept = [int(n) for n in keep or []]
        with self.transaction() as cursor:
            self._notify("epochs", model)
            marks = ", ".join("?" * len(kept))
            chosen = f"model_id = ? AND number NOT IN ({marks})"
            args = (self._model_id(model), *kept)
            files = self._weight_files(f"AND run_id IN (SELECT id FROM runs WHERE {chosen})", args)
            cursor.execute(f"DELETE FROM runs WHERE {chosen}", args)
        self._drop_weight_files(files)

    def add_epoch(self, model: str, run: int, epoch: int, metrics: dict[str, Any]) -> None:
        with self.transaction() as cursor:
            self._notify("epochs", model)
            cursor.execute(
                "INSERT OR REPLACE INTO epochs VALUES (?, ?, ?)",
                (self._existing_run_id(model, run), int(epoch), _dumps(metrics)),
            )

    def epochs(self, model: str, run: int | None = None) -> list[dict[str, Any]]:
        """The epochs of the model's run number `run` (None: its latest run)."""
        run_id = self._run_id(model, run)
        with self._lock:
            rows = self._db.execute(
                "SELECT epoch, value FROM epochs WHERE run_id = ? ORDER BY epoch", (run_id,)
            ).fetchall()
        return [{**json.loads(value), "epoch": epoch} for epoch, value in rows]

    def clear_epochs(self, model: str, run: int, after: int = -1) -> None:
        """Forget the run's epochs after `after` (all by default): a resume redoes them."""
        with self.transaction() as cursor:
            self._notify("epochs", model)
            cursor.execute(
                "DELETE FROM epochs WHERE run_id = ? AND epoch > ?",
                (self._existing_run_id(model, run), after),
            )

    def set_weights(
        self, model: str, run: int, kind: str, epoch: int, data: bytes | memoryview
    ) -> None:
        """Keep a run's `best` weights (safetensors, checked) or its last `checkpoint` (the
        trainer's bytes); from FILE_THRESHOLD bytes on, as a file beside the project.

        A checkpoint is only ever read back by `train.state.unpack`, which refuses anything
        but safetensors: a pickle stored there is never unpickled.
        """
        if kind == "best":
            check_safetensors(data, f"the best weights of {model!r}")
        run_id = self._existing_run_id(model, run)
        size = memoryview(data).nbytes
        file = None
        if size >= weightfiles.FILE_THRESHOLD:
            file = weightfiles.new_name(run_id, kind, epoch)
            try:
                weightfiles.write(self.weights_folder, file, data)
            except OSError as exc:
                raise self._file_error(exc, self.weights_folder / file) from exc
        try:
            with self.transaction() as cursor:
                self._notify("weights", model)
                replaced = self._weight_files("AND run_id = ? AND kind = ?", (run_id, kind))
                cursor.execute(
                    "INSERT OR REPLACE INTO weights VALUES (?, ?, ?, ?, ?, ?)",
                    (run_id, kind, int(epoch), None if file else bytes(data), file, size),
                )
        except BaseException:
            if file is not None:  # no row names it
                weightfiles.remove(self.weights_folder, [file])
            raise
        self._drop_weight_files(replaced)

    def weights(self, model: str, kind: str, run: int | None = None) -> tuple[int, bytes] | None:
        """(epoch, bytes) of a run's `best` or `checkpoint` (None: the latest run's); None if
        that run has none, ProjectError if its file is missing."""
        run_id = self._run_id(model, run)
        with self._lock:
            row = self._db.execute(
                "SELECT epoch, data, file, size FROM weights WHERE run_id = ? AND kind = ?",
                (run_id, kind),
            ).fetchone()
        if row is None:
            return None
        epoch, data, file, size = row
        if file is None:
            return int(epoch), bytes(data)
        try:
            return int(epoch), weightfiles.read(self.weights_folder, file, int(size))
        except OSError as exc:
            raise ProjectError(
                f"cannot read the {kind} weights of {model!r}: {exc}; large weights are files "
                f"in {self.weights_folder.name}, beside the project file, and travel with it"
            ) from None

    def weights_epoch(self, model: str, kind: str, run: int | None = None) -> int | None:
        """The epoch of a run's `best` or `checkpoint` weights, without reading them."""
        run_id = self._run_id(model, run)
        with self._lock:
            row = self._db.execute(
                "SELECT epoch FROM weights WHERE run_id = ? AND kind = ?", (run_id, kind)
            ).fetchone()
        return None if row is None else int(row[0])

    # ------------------------------------------------------------------ logs

    def add_logs(self, entries: list[tuple[float, str, str]]) -> None:
        """Append (time, source, line) entries in one transaction."""
        if not entries:
            return
        with self.transaction() as cursor:
            cursor.executemany("INSERT INTO logs (time, source, line) VALUES (?, ?, ?)", entries)

    def logs(self, limit: int = 1000) -> list[tuple[float, str, str]]:
        """The last `limit` log entries, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT time, source, line FROM logs ORDER BY id DESC LIMIT ?", (limit,)
            ).fetchall()
        return [tuple(row) for row in reversed(rows)]
