"""The retention report's parameters (SPEC §2): ``ReportQuery`` and its parts.

The computation lives in ``engine.triangle`` (one query over ``engine.derived``'s
tables) and ``engine.report`` (runs it, pools and rounds via ``engine.report_model``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

import ibis.expr.types as ir

from cohortd.engine.periods import Interval, period_of

UNKNOWN = "unknown"
NO_GROUP = ""  # the one group of a time-based report


class Breakdown(StrEnum):
    """Categorical cohorts: one per value of the customer's field."""

    country = "country"
    currency = "currency"


@dataclass(frozen=True)
class Filters:
    """Universe filters: ``None`` = not filtered; tokens match whole values, any case.

    ``countries`` holds upper-case alpha-2 codes (regions already expanded).
    """

    countries: frozenset[str] | None = None
    currencies: frozenset[str] | None = None
    industries: frozenset[str] | None = None
    channels: frozenset[str] | None = None
    sizes: frozenset[str] | None = None


@dataclass(frozen=True)
class ReportQuery:
    """Everything that shapes one report."""

    as_of: date
    interval: Interval
    base_currency: str
    breakdown: Breakdown | None = None
    fix_fx: bool = False
    filters: Filters = field(default_factory=Filters)
    members: ir.Table | None = None  # optional restriction: a table with ``customer_id``
    # optional breakdown by given groups: ``customer_id, grp`` (only these customers; one
    # row per group, as a breakdown's); ``engine.curves.vintage_curves`` draws with it
    groups: ir.Table | None = None

    @property
    def grouped(self) -> bool:
        """One row per group (a breakdown, or given groups) rather than per period."""
        return self.breakdown is not None or self.groups is not None

    @property
    def current(self) -> int:
        """The number of the current period (the one holding ``as_of``)."""
        return period_of(self.as_of, self.interval)
