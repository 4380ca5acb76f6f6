"""Today, for every rule that reads it.

A derived status, an ``as_of`` default, the current period of a report, a run's date and the
day a live change takes effect all ask this module. It answers the UTC date, or the day the
``COHORTD_TODAY`` environment variable pins (``YYYY-MM-DD``): a demo or an audit can then be
replayed as of one day, and a test suite that runs past midnight keeps one today throughout.
Timestamps (``created_at``, deliveries, leases) stay on the wall clock.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime
from functools import lru_cache

ENV = "COHORTD_TODAY"


class InvalidToday(ValueError):
    """``COHORTD_TODAY`` is set but is not a ``YYYY-MM-DD`` date."""


def today() -> date:
    """The pinned day when ``COHORTD_TODAY`` is set, else today's date in UTC."""
    pinned = os.environ.get(ENV, "").strip()
    if pinned:
        return parse(pinned)
    return datetime.now(UTC).date()


@lru_cache(maxsize=8)
def parse(text: str) -> date:
    """A ``COHORTD_TODAY`` value as a date (ISO 8601, ``YYYY-MM-DD`` or ``YYYYMMDD``)."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidToday(f"{ENV} must be a date as YYYY-MM-DD, got {text!r}") from None
