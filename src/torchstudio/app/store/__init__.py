"""The project store: the SQLite project file, its schema, weights, recent projects, the log, trust."""
