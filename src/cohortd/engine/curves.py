"""Vintage curves (SPEC §4): months 0..N since each member's cohort month, pooled.

A curve is one §2 breakdown row for a member set on a monthly interval: every member is
aligned on its own cohort period (the month of its ``paid_started_at``) and month k pools
the monthly sub-cohorts that reached k, exactly as ``engine.report_model.pool`` does for
a breakdown row. So the curve reuses the report's queries and pooling; nothing here
computes retention on its own. ``mature_customers`` at k is the number of members whose
sub-cohort reached month k (the denominator of the customer retention at k).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Final

import ibis.expr.types as ir

from cohortd.engine.periods import Interval
from cohortd.engine.report import run_report
from cohortd.engine.report_model import CohortSeries, PooledPeriod, money, period_fields, pool
from cohortd.engine.retention import ReportQuery
from cohortd.warehouse import Scope, Warehouse

DEFAULT_MONTHS: Final = 36
MAX_MONTHS: Final = 600


@dataclass(frozen=True)
class CurvePoint:
    """Month k of a curve: the pooled sums behind it."""

    month: int
    pooled: PooledPeriod

    def as_json(self) -> dict[str, Any]:
        return {
            "month": self.month,
            "mature_customers": self.pooled.initial_customers,
            "mature_mrr": money(self.pooled.initial_mrr),
            **period_fields(self.pooled),
        }


@dataclass(frozen=True)
class Curve:
    """A vintage curve: the members' initial totals and months 0..N (as far as reached)."""

    currency: str
    initial_customers: int
    initial_mrr: int  # report_model.MONEY_SCALE units
    points: tuple[CurvePoint, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "object": "vintage_curve",
            "currency": self.currency,
            "initial_customers": self.initial_customers,
            "initial_mrr": money(self.initial_mrr),
            "periods": [p.as_json() for p in self.points],
        }

    def mrr_retention(self, month: int) -> Decimal | None:
        """Exact pooled MRR retention at ``month`` (None when no sub-cohort reached it)."""
        if month >= len(self.points):
            return None
        pooled = self.points[month].pooled
        if pooled.initial_mrr == 0:
            return None
        return Decimal(100) * pooled.mrr / pooled.initial_mrr


def curve_from_series(series: list[CohortSeries], *, months: int, currency: str) -> Curve:
    """Pool monthly sub-cohorts (oldest first, empty ones ignored) into months 0..N."""
    cohorts = [s for s in series if not s.empty]
    reached = max((len(s.periods) for s in cohorts), default=0)
    points = tuple(CurvePoint(k, pool(cohorts, k)) for k in range(min(months + 1, reached)))
    return Curve(
        currency=currency,
        initial_customers=sum(s.initial_customers for s in cohorts),
        initial_mrr=sum(s.initial_mrr for s in cohorts),
        points=points,
    )


def vintage_curve(
    warehouse: Warehouse,
    scope: Scope,
    members: ir.Table,
    *,
    today: date,
    base_currency: str,
    months: int = DEFAULT_MONTHS,
    fix_fx: bool = False,
) -> Curve:
    """The curve of ``members`` (a table with ``customer_id``) as of ``today``.

    Members that never paid by ``today`` have no cohort month and stay out, as they stay
    out of a report's universe.
    """
    query = ReportQuery(
        as_of=today,
        interval=Interval.month,
        base_currency=base_currency,
        fix_fx=fix_fx,
        members=members,
    )
    report = run_report(warehouse, scope, query)
    # The report's last row is its ``average``: the pool of every non-empty monthly cohort.
    series = list(report.rows[-1].series)
    return curve_from_series(series, months=months, currency=base_currency)


def vintage_curves(
    warehouse: Warehouse,
    scope: Scope,
    relation: ir.Table,
    cohort_ids: Sequence[str],
    *,
    today: date,
    base_currency: str,
    months: int = DEFAULT_MONTHS,
) -> list[Curve]:
    """The curve of every cohort of ``cohort_ids`` (in that order), its members read from
    ``relation`` (``cohort_id, customer_id``, as ``engine.batched`` builds it), all drawn
    by ONE report: the cohorts are its groups (``ReportQuery.groups``), and each group's
    row pools its members' monthly sub-cohorts exactly as ``vintage_curve`` pools one
    member set's."""
    if not cohort_ids:
        return []
    wanted = relation.filter(relation.cohort_id.isin(list(cohort_ids)))
    query = ReportQuery(
        as_of=today,
        interval=Interval.month,
        base_currency=base_currency,
        groups=wanted.select("customer_id", grp=wanted.cohort_id),
    )
    report = run_report(warehouse, scope, query)
    by_group = {row.cohort_group: list(row.series) for row in report.rows[:-1]}
    return [
        curve_from_series(by_group.get(c, []), months=months, currency=base_currency)
        for c in cohort_ids
    ]
