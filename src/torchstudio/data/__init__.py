"""Dataset plumbing shared by the dataset and training workers: sample conversion, splits,
suggestions, the columnar on-disk cache and the worker-to-worker hand-off."""
