"""Keeping the garbage collector's pauses short in the app process.

A full (generation 2) collection walks every tracked object and runs on the event loop, so
every page waits for it. Under the load benchmark (four trainings, five pages, a bare page
GET every half second) the tracked objects grew from 50,000 to over a million: a page build
leaves about 14,000, and NiceGUI keeps a page no browser connected to for 60 s. Full passes
then took 274 ms on average, up to 593 ms, a dozen times in 100 s. Three measures: what
exists once the server has started (torch, NiceGUI, FastAPI) moves to the permanent
generation (`gc.freeze`) and leaves every later pass; the youngest generation is collected
less often, so full passes come less often; pages never taken up go after 20 s.
"""

from __future__ import annotations

import gc

from nicegui import Client

# Collections of the youngest generation every 5,000 net new objects instead of 700: a
# page build makes about 14,000, so the default ran the collector (and every tenth time a
# full pass) several times per page.
YOUNG_THRESHOLD = 5000


def freeze_startup_objects() -> None:
    """Collect once, exclude every surviving object from later passes, collect less often."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)


# A page whose browser never connected (a bare HTTP GET, a tab closed while loading) keeps
# its whole element tree; NiceGUI drops such pages after 60 s. A browser connects within a
# second or two, so 20 s is ample, and a late one is simply sent the page again.
UNCONNECTED_PAGE_SECONDS = 20.0


def prune_unconnected_pages() -> None:
    """Delete pages served more than UNCONNECTED_PAGE_SECONDS ago that no browser took up."""
    Client.prune_instances(client_age_threshold=UNCONNECTED_PAGE_SECONDS)
