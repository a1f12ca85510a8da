"""Distributed data-parallel training: one process per device, on one or several machines."""
