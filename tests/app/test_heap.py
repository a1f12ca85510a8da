"""The app process's collector settings and the pruning of pages no browser took up."""

import gc
import time

from nicegui import Client
from nicegui.page import page

from torchstudio.app.web import heap


def test_startup_objects_leave_the_collected_generations_and_collections_come_less_often():
    thresholds = gc.get_threshold()
    try:
        heap.freeze_startup_objects()
        assert gc.get_freeze_count() > 1000  # this test process has imported NiceGUI at least
        assert gc.get_threshold() == (heap.YOUNG_THRESHOLD, *thresholds[1:])
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


def test_pages_served_long_ago_and_never_connected_are_deleted():
    old, fresh, connected = (Client(page("/")) for _ in range(3))
    try:
        old.created = connected.created = time.time() - heap.UNCONNECTED_PAGE_SECONDS - 1
        connected.tab_id = "a browser tab"
        heap.prune_unconnected_pages()
        assert old.id not in Client.instances and old.is_deleted
        assert fresh.id in Client.instances and connected.id in Client.instances
    finally:
        for client in (fresh, connected):
            client.tab_id = None
            client.delete()
