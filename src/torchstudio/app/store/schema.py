"""The project file's schema: the current tables and the migrations from older versions.

The version lives in SQLite's `user_version`; `application_id` marks the file as a
TorchStudio project. A migration is SQL run inside the same transaction that bumps the
version, so a file is either fully migrated or untouched.
"""

from __future__ import annotations

APPLICATION_ID = 0x54537470  # "TStp": tells a project apart from any other SQLite file
SCHEMA_VERSION = 2

# Version 2. JSON documents are stored as text: nothing in a project is ever unpickled.
SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE documents (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE blobs (name TEXT PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE models (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    position INTEGER NOT NULL,
    value TEXT NOT NULL
);
CREATE TABLE epochs (
    model_id INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    epoch INTEGER NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (model_id, epoch)
);
CREATE TABLE weights (
    model_id INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (model_id, kind)
);
CREATE TABLE logs (
    id INTEGER PRIMARY KEY,
    time REAL NOT NULL,
    source TEXT NOT NULL,
    line TEXT NOT NULL
);
"""

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
    """,
}
