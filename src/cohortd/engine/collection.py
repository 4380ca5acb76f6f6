"""Python's cyclic garbage collector paused while a report's cells are built.

A weekly report at a million customers makes ~40,000 cells, each a few tuples and a
dictionary: enough allocations to set off the collector's full passes, each of which
walks every tracked object of the process (the app, Ibis, sqlglot, pyarrow), about
0.15 s of a 0.4 s Python side (measured; docs/benchmarks.md). None of those objects is
garbage while the cells are built, and objects without cycles are freed by reference
counting either way, so the pass finds nothing: ``paused()`` switches it off for the
duration and back on when the last concurrent user leaves (the switch is per process).
Under a steady stream of overlapping reports the last user might never leave: a user
leaving after the collector has been off for ``LONGEST_PAUSE`` seconds switches it back
on for the others, so a pause lasts at most about ``LONGEST_PAUSE`` plus one report
(a report's SQL runs inside it too: a slow PostgreSQL report keeps the collector off for
its duration; objects without cycles are freed meanwhile as always).
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

LONGEST_PAUSE: Final = 10.0  # seconds
_lock: Final = threading.Lock()
_users = 0
_was_enabled = False
_since = 0.0  # when the collector was switched off (time.monotonic)


@contextmanager
def paused() -> Iterator[None]:
    """Run the block with the cyclic collector off (as it was before, after the last
    nested or concurrent block ends); collector state set by others is left alone."""
    global _users, _was_enabled, _since
    with _lock:
        if _users == 0:
            _was_enabled, _since = gc.isenabled(), time.monotonic()
            gc.disable()
        _users += 1
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            too_long = time.monotonic() - _since >= LONGEST_PAUSE
            if _was_enabled and (_users == 0 or too_long):
                gc.enable()
