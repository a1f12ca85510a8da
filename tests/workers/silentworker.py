"""A worker that never connects back: its handle stays waiting for a hello (handshake attacks)."""

import time

time.sleep(120)  # until the test stops it
