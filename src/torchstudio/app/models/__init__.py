"""The Models side: the pure definition of a model's documents and the services that build and train."""
