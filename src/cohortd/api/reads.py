"""The frame of every analytic request: derived rows caught up, then one reader under
the request deadline (``COHORTD_QUERY_TIMEOUT_SECONDS``).

The catch-up (a write, on the main connection) comes first so that the reader's
snapshot, taken at its first statement, holds it; past the deadline the reader's
statements are cancelled and the request answers 503 naming the setting.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from cohortd.config import Settings
from cohortd.engine import derived
from cohortd.errors import QueryTimeout
from cohortd.warehouse import Scope, Warehouse

SETTING = "COHORTD_QUERY_TIMEOUT_SECONDS"


def timeout_error(seconds: float) -> QueryTimeout:
    return QueryTimeout(
        f"The request took longer than {seconds:g} s and was cancelled. Narrow it (a "
        f"later date range, a filter, a longer interval) or raise {SETTING}.",
        headers={"Retry-After": "1"},
        extra={"setting": SETTING, "deadline_seconds": seconds},
    )


@contextmanager
def analytic(warehouse: Warehouse, scope: Scope, settings: Settings) -> Iterator[None]:
    """Run the block as one analytic read of ``scope`` under the request deadline."""
    derived.catch_up(warehouse, scope)
    seconds = settings.query_timeout_seconds
    with warehouse.reading(seconds, timeout_error(seconds)):
        yield
