"""The project file's schema: the current tables and the migrations from older versions.

The version lives in SQLite's `user_version`; `application_id` marks the file as a
TorchStudio project. A migration is SQL run inside the same transaction that bumps the
version, so a file is either fully migrated or untouched.
"""

from __future__ import annotations

APPLICATION_ID = 0x54537470  # "TStp": tells a project apart from any other SQLite file
SCHEMA_VERSION = 4

# A row holds a run's best weights or checkpoint: their bytes, or the name of their file
# beside the project (store/weightfiles.py), and their size either way.
WEIGHTS_COLUMNS = """    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    data BLOB,
    file TEXT,
    size INTEGER NOT NULL,
    PRIMARY KEY (run_id, kind),
    CHECK ((data IS NULL) <> (file IS NULL))
"""

# Version 4. JSON documents are stored as text: nothing in a project is ever unpickled.
SCHEMA = (
    """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE documents (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE blobs (name TEXT PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE models (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    position INTEGER NOT NULL,
    value TEXT NOT NULL
);
CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    model_id INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    number INTEGER NOT NULL,
    created REAL NOT NULL,
    status TEXT NOT NULL,
    settings TEXT NOT NULL,
    dataset TEXT NOT NULL,
    code TEXT NOT NULL,
    summary TEXT NOT NULL,
    UNIQUE (model_id, number)
);
CREATE TABLE epochs (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    epoch INTEGER NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (run_id, epoch)
);
CREATE TABLE weights (
"""
    + WEIGHTS_COLUMNS
    + """);
CREATE TABLE logs (
    id INTEGER PRIMARY KEY,
    time REAL NOT NULL,
    source TEXT NOT NULL,
    line TEXT NOT NULL
);
"""
)

# MIGRATIONS[v] turns a version-v file into a version v+1 file.
MIGRATIONS: dict[int, str] = {
    # Version 1 kept the best weights and the checkpoint in columns of `models`, and logs
    # had no source. Version 2 moves weights to their own table (one row per kind), so
    # reading the model list no longer drags megabytes of weights along.
    1: """
    CREATE TABLE weights (
        model_id INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
        kind TEXT NOT NULL,
        epoch INTEGER NOT NULL,
        data BLOB NOT NULL,
        PRIMARY KEY (model_id, kind)
    );
    INSERT INTO weights (model_id, kind, epoch, data)
        SELECT id, 'best', best_epoch, best_weights FROM models WHERE best_weights IS NOT NULL;
    INSERT INTO weights (model_id, kind, epoch, data)
        SELECT id, 'checkpoint', checkpoint_epoch, checkpoint FROM models
        WHERE checkpoint IS NOT NULL;
    CREATE TABLE models_v2 (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        position INTEGER NOT NULL,
        value TEXT NOT NULL
    );
    INSERT INTO models_v2 (id, name, position, value) SELECT id, name, position, value FROM models;
    DROP TABLE models;
    ALTER TABLE models_v2 RENAME TO models;
    ALTER TABLE logs ADD COLUMN source TEXT NOT NULL DEFAULT 'app';
    """,  # Version 2 kept one list of epochs and one best/checkpoint per model, so a new training
    # mixed with the previous one's weights. Version 3 keeps each training as a run; what a
    # version-2 model had becomes its run 1 (settings_used/training/status from its document;
    # the dataset and code it was made from were not recorded: empty fingerprints).
    2: """
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        model_id INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
        number INTEGER NOT NULL,
        created REAL NOT NULL,
        status TEXT NOT NULL,
        settings TEXT NOT NULL,
        dataset TEXT NOT NULL,
        code TEXT NOT NULL,
        summary TEXT NOT NULL,
        UNIQUE (model_id, number)
    );
    INSERT INTO runs (id, model_id, number, created, status, settings, dataset, code, summary)
        SELECT id, id, 1, CAST(strftime('%s', 'now') AS REAL),
            COALESCE(json_extract(value, '$.status'), 'stopped'),
            COALESCE(json_extract(value, '$.settings_used'), '{}'), '', '',
            COALESCE(json_extract(value, '$.training'), '{}')
        FROM models
        WHERE id IN (SELECT model_id FROM epochs UNION SELECT model_id FROM weights);
    CREATE TABLE epochs_v3 (
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        epoch INTEGER NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (run_id, epoch)
    );
    INSERT INTO epochs_v3 (run_id, epoch, value) SELECT model_id, epoch, value FROM epochs;
    DROP TABLE epochs;
    ALTER TABLE epochs_v3 RENAME TO epochs;
    CREATE TABLE weights_v3 (
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        kind TEXT NOT NULL,
        epoch INTEGER NOT NULL,
        data BLOB NOT NULL,
        PRIMARY KEY (run_id, kind)
    );
    INSERT INTO weights_v3 (run_id, kind, epoch, data)
        SELECT model_id, kind, epoch, data FROM weights;
    DROP TABLE weights;
    ALTER TABLE weights_v3 RENAME TO weights;
    """,
    # Version 4 keeps large weights as files beside the project (store/weightfiles.py): a
    # row holds either the bytes or the file's name, and the size either way.
    3: """
    CREATE TABLE weights_v4 (
    """
    + WEIGHTS_COLUMNS
    + """
    );
    INSERT INTO weights_v4 (run_id, kind, epoch, data, file, size)
        SELECT run_id, kind, epoch, data, NULL, length(data) FROM weights;
    DROP TABLE weights;
    ALTER TABLE weights_v4 RENAME TO weights;
    """,
}
