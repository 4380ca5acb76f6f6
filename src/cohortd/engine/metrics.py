"""Subscription metrics as a time series (SPEC §8), on ``engine.movements``.

Each entry is one period p of the organization's universe (or a cohort's members):
its movements (s = MRR on the day before ``period_start``, e = MRR on ``date``, both at
``date``'s rate, or at one fixed day's rate for constant currency) and the figures
derived from them. Values stay exact ``Decimal`` until ``MetricsEntry.as_json`` rounds
them (half away from zero, 2 decimals); a zero denominator gives None (JSON null).

``ltv`` needs the customer churn rate of the five periods before each entry, so the
series is computed from five periods before the first one asked (``LTV_LOOKBACK``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any, Final

import ibis
import ibis.expr.types as ir

from cohortd.engine.money import round_half_away
from cohortd.engine.monthly import whole_scope_movements
from cohortd.engine.movement_model import (
    Movement,
    PeriodMovements,
    Window,
    day_windows,
    period_windows,
)
from cohortd.engine.movements import cohort_movements
from cohortd.engine.periods import Interval, first_day, period_of
from cohortd.engine.retention import Filters
from cohortd.warehouse import Scope, Warehouse, scoped
from cohortd.warehouse.tables import CUSTOMER_FACTS, CUSTOMERS

HUNDRED: Final = Decimal(100)
ARR_MONTHS: Final = 12
LTV_LOOKBACK: Final = 5  # ltv averages the churn rate over p−5 … p
DEFAULT_ENTRIES: Final = 12


class Granularity(StrEnum):
    """A metrics interval: the report's four, and days."""

    day = "day"
    week = "week"
    month = "month"
    quarter = "quarter"
    year = "year"


def windows(granularity: Granularity, first: date, last: date, *, cut: date) -> list[Window]:
    """The periods holding ``first`` … ``last``, the last one measured on ``cut``."""
    if granularity is Granularity.day:
        return day_windows(first, last)
    interval = Interval(granularity.value)
    return period_windows(
        interval, period_of(first, interval), period_of(last, interval), today=cut
    )


def default_start(granularity: Granularity, end: date, count: int = DEFAULT_ENTRIES) -> date:
    """The first day of the ``count`` periods ending with ``end``'s."""
    if granularity is Granularity.day:
        return end - timedelta(days=count - 1)
    interval = Interval(granularity.value)
    return first_day(period_of(end, interval) - count + 1, interval)


def earlier(granularity: Granularity, day: date, count: int) -> date:
    """A day in the period ``count`` periods before ``day``'s."""
    if granularity is Granularity.day:
        return day - timedelta(days=count)
    interval = Interval(granularity.value)
    return first_day(period_of(day, interval) - count, interval)


def _ratio(numerator: Decimal, denominator: Decimal | int) -> Decimal | None:
    return None if denominator == 0 else numerator / Decimal(denominator)


@dataclass(frozen=True)
class MetricsEntry:
    """One period's exact figures."""

    moved: PeriodMovements
    complete: bool
    ltv: Decimal | None

    @property
    def mrr(self) -> Decimal:
        return self.moved.ending_mrr

    @property
    def customers(self) -> int:
        return self.moved.paying_at_end

    @property
    def arpa(self) -> Decimal | None:
        return _ratio(self.mrr, self.customers)

    @property
    def customer_churn_rate(self) -> Decimal | None:
        return _ratio(HUNDRED * self.moved.count(Movement.churn), self.moved.paying_at_start)

    def _lost(self) -> Decimal:
        return self.moved.moved(Movement.churn) + self.moved.moved(Movement.contraction)

    @property
    def mrr_churn_rate(self) -> Decimal | None:
        return _ratio(HUNDRED * self._lost(), self.moved.starting_mrr)

    @property
    def net_mrr_churn_rate(self) -> Decimal | None:
        won = self.moved.moved(Movement.expansion) + self.moved.moved(Movement.reactivation)
        return _ratio(HUNDRED * (self._lost() - won), self.moved.starting_mrr)

    @property
    def nrr(self) -> Decimal | None:
        kept = self.moved.starting_mrr + self.moved.moved(Movement.expansion) - self._lost()
        return _ratio(HUNDRED * kept, self.moved.starting_mrr)

    @property
    def grr(self) -> Decimal | None:
        kept = _ratio(HUNDRED * (self.moved.starting_mrr - self._lost()), self.moved.starting_mrr)
        return None if kept is None else min(HUNDRED, kept)

    @property
    def quick_ratio(self) -> Decimal | None:
        won = sum(
            (
                self.moved.moved(m)
                for m in (Movement.new, Movement.reactivation, Movement.expansion)
            ),
            Decimal(0),
        )
        return _ratio(won, self._lost())

    def values(self) -> dict[str, Decimal | int | None]:
        """Every numeric field, exact (unrounded), by its API name."""
        m = self.moved
        return {
            "mrr": self.mrr,
            "arr": ARR_MONTHS * self.mrr,
            "customers": self.customers,
            "arpa": self.arpa,
            "starting_mrr": m.starting_mrr,
            "new_mrr": m.moved(Movement.new),
            "reactivation_mrr": m.moved(Movement.reactivation),
            "expansion_mrr": m.moved(Movement.expansion),
            "contraction_mrr": m.moved(Movement.contraction),
            "churn_mrr": m.moved(Movement.churn),
            "net_new_mrr": m.net_new_mrr,
            "fx_impact": m.fx_impact,
            "new_customers": m.count(Movement.new),
            "reactivated_customers": m.count(Movement.reactivation),
            "churned_customers": m.count(Movement.churn),
            "customer_churn_rate": self.customer_churn_rate,
            "mrr_churn_rate": self.mrr_churn_rate,
            "net_mrr_churn_rate": self.net_mrr_churn_rate,
            "nrr": self.nrr,
            "grr": self.grr,
            "quick_ratio": self.quick_ratio,
            "ltv": self.ltv,
        }

    def as_json(self) -> dict[str, Any]:
        """SPEC §8's entry, rounded at the end (counts stay integers)."""
        return {
            "date": self.moved.window.end.isoformat(),
            "period_start": self.moved.window.start.isoformat(),
            "complete": self.complete,
            **{name: rounded(value) for name, value in self.values().items()},
        }


NUMERIC_FIELDS: Final = (
    "mrr",
    "arr",
    "customers",
    "arpa",
    "starting_mrr",
    "new_mrr",
    "reactivation_mrr",
    "expansion_mrr",
    "contraction_mrr",
    "churn_mrr",
    "net_new_mrr",
    "fx_impact",
    "new_customers",
    "reactivated_customers",
    "churned_customers",
    "customer_churn_rate",
    "mrr_churn_rate",
    "net_mrr_churn_rate",
    "nrr",
    "grr",
    "quick_ratio",
    "ltv",
)
SUMMARY_FIELDS: Final = (
    "mrr",
    "arr",
    "customers",
    "arpa",
    "customer_churn_rate",
    "mrr_churn_rate",
    "nrr",
)


def rounded(value: Decimal | int | None) -> float | int | None:
    """Integers stay integers; amounts and ratios: 2 decimals, half away from zero."""
    if value is None or isinstance(value, int):
        return value
    return float(round_half_away(value))


def percentage_change(
    current: Decimal | int | None, previous: Decimal | int | None
) -> Decimal | None:
    """100 × (current − previous) / |previous|; None when either is None or previous is 0."""
    if current is None or previous is None or previous == 0:
        return None
    return HUNDRED * (Decimal(current) - Decimal(previous)) / abs(Decimal(previous))


@dataclass(frozen=True)
class MetricsSeries:
    """The entries asked for, oldest first."""

    entries: list[MetricsEntry]

    def summary(self, names: Sequence[str] = SUMMARY_FIELDS) -> dict[str, dict[str, Any]]:
        """``{name: {current, previous, percentage_change}}`` over the last two entries."""
        last = self.entries[-1].values() if self.entries else {}
        before = self.entries[-2].values() if len(self.entries) > 1 else {}
        return {
            name: {
                "current": rounded(last.get(name)),
                "previous": rounded(before.get(name)),
                "percentage_change": rounded(percentage_change(last.get(name), before.get(name))),
            }
            for name in names
        }


def metrics_series(
    warehouse: Warehouse,
    scope: Scope,
    *,
    members: ir.Table | None,
    granularity: Granularity,
    start: date,
    end: date,
    today: date,
    currency: str,
    fix_fx: bool,
) -> MetricsSeries:
    """The periods holding ``start`` … ``end`` of ``members`` (``customer_id``; None: the
    whole scope), each measured on ``min(its last day, end)``, in ``currency``.

    A period is ``complete`` when its last day is measured and over (before ``today``).
    Raises ``fx.UnknownCurrency`` for a currency without rates.
    """
    asked = windows(granularity, start, end, cut=end)
    lookback = windows(granularity, earlier(granularity, start, LTV_LOOKBACK), end, cut=end)
    fixed_rate_day = asked[0].start if fix_fx else None
    if members is None:  # the whole scope: by month, from the sums kept at every write
        table = whole_scope_movements(
            warehouse, scope, periods=lookback, currency=currency, fixed_rate_day=fixed_rate_day
        )
    else:
        table = cohort_movements(
            warehouse,
            scope,
            members=members.select(group_id=ibis.literal(""), customer_id=members.customer_id),
            periods=lookback,
            currency=currency,
            fixed_rate_day=fixed_rate_day,
        )
    series = table.series("")
    offset = len(lookback) - len(asked)
    churn_rates = [_ratio(HUNDRED * m.count(Movement.churn), m.paying_at_start) for m in series]
    complete = [m.window.complete and m.window.last < today for m in series]
    entries = []
    for k in range(offset, len(series)):
        rates = [
            rate
            for rate, done in zip(
                churn_rates[k - LTV_LOOKBACK : k + 1],
                complete[k - LTV_LOOKBACK : k + 1],
                strict=True,
            )
            if done and rate is not None
        ]
        mean = sum(rates, Decimal(0)) / len(rates) if rates else None
        arpa = _ratio(series[k].ending_mrr, series[k].paying_at_end)
        ltv = None if arpa is None or mean is None or mean == 0 else arpa * HUNDRED / mean
        entries.append(MetricsEntry(series[k], complete=complete[k], ltv=ltv))
    return MetricsSeries(entries)


def universe(
    warehouse: Warehouse, scope: Scope, filters: Filters, members: ir.Table | None
) -> ir.Table | None:
    """``customer_id`` of the customers passing SPEC §2's filters (and in ``members``
    when given); None when nothing restricts the scope (every customer counts)."""
    others = (filters.industries, filters.channels, filters.sizes)
    if filters == Filters() and members is None:
        return None
    facts = scoped(warehouse, CUSTOMER_FACTS, scope)
    if filters.countries is not None:  # stored upper-cased; region slugs already expanded
        facts = facts.filter(facts.country.isin(sorted({c.upper() for c in filters.countries})))
    if filters.currencies is not None:
        wanted = sorted({c.lower() for c in filters.currencies})
        facts = facts.filter(facts.currency.lower().isin(wanted))
    if any(v is not None for v in others):
        customers = scoped(warehouse, CUSTOMERS, scope)
        for column, tokens in zip(("industry", "channel", "size"), others, strict=True):
            if tokens is not None:
                lowered = sorted({t.lower() for t in tokens})
                customers = customers.filter(customers[column].lower().isin(lowered))
        facts = facts.filter(facts.customer_id.isin(customers.id))
    if members is not None:
        facts = facts.filter(facts.customer_id.isin(members.customer_id))
    return facts.select("customer_id")
