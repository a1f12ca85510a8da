"""The application: server, project store, worker manager, UI pages."""
