"""Training plumbing for `modeltrain`: settings, devices, batches, state and the loop."""
