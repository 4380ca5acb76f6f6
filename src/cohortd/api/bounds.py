"""Input bounds every endpoint shares (docs/reliability.md, "Input limits").

- **Days** are taken from 1900-01-01 to 2200-12-31. cohortd's data (subscriptions,
  exchange rates since 1999) lives well inside; a day outside names a mistake, and a
  year like 4672 would make period arithmetic walk millennia of empty periods.
- **Text** in a path or a query is UTF-8 without NUL (``api.gateway``), and so is every
  string of a JSON body (``api.schemas.Schema``): no database stores a NUL, and no
  encoder takes a lone surrogate.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Final

from pydantic import AfterValidator

from cohortd.errors import InvalidParameter

MIN_DAY: Final = date(1900, 1, 1)
MAX_DAY: Final = date(2200, 12, 31)
DAY_RANGE: Final = f"must be between {MIN_DAY.isoformat()} and {MAX_DAY.isoformat()}"


def day_in_range(name: str, day: date) -> date:
    """``day`` if it lies in [MIN_DAY, MAX_DAY], else a 400 naming ``name``."""
    if not MIN_DAY <= day <= MAX_DAY:
        raise InvalidParameter(name, DAY_RANGE)
    return day


def _validated_day(day: date) -> date:
    if not MIN_DAY <= day <= MAX_DAY:
        raise ValueError(DAY_RANGE)
    return day


# A query parameter typed ``InRangeDay``: a malformed or out-of-range day is FastAPI's 422
# naming the parameter, like any other malformed value of that endpoint.
InRangeDay = Annotated[date, AfterValidator(_validated_day)]
