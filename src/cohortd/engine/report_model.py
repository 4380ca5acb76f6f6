"""The retention report's numbers after the queries: exact series, pooling, percentages.

The engine's query (``engine.triangle``) returns exact aggregates; this module turns them
into SPEC §2's rows. Money is carried as integers in units of 10⁻¹⁸ of the base currency
(``MONEY_SCALE``: the query's sums are ``DECIMAL(38, 18)``, so this is exact), and every
percentage is an exact integer ratio; rounding (half away from zero, 2 decimals) happens
once, in ``CohortRow.as_json``/``period_fields``, with integer arithmetic. (Python
``Decimal`` did the same, an order of magnitude slower on a weekly report's 41,000
cells.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final, NamedTuple

MONEY_SCALE: Final = 10**18
ZERO: Final = 0
AVERAGE: Final = "average"


def scaled(value: Decimal) -> int:
    """An exact decimal with at most 18 places as an integer of 10⁻¹⁸ units."""
    return int(value.scaleb(18))


def to_decimal(value: int) -> Decimal:
    """The exact ``Decimal`` of a scaled money integer."""
    return Decimal(value).scaleb(-18)


def _hundredths(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded half away from zero (``denominator > 0``);
    ``q / 100`` is then the correctly rounded float of the 2-decimal number ``q / 100``
    (the float ``float("x.yz")`` gives)."""
    if numerator >= 0:
        return (2 * numerator + denominator) // (2 * denominator)
    return -((denominator - 2 * numerator) // (2 * denominator))


def money(value: int) -> float:
    """A scaled money integer rounded to 2 decimals, half away from zero."""
    return _hundredths(100 * value, MONEY_SCALE) / 100


class PeriodValues(NamedTuple):
    """One cohort's exact values at period index k (a named tuple: a weekly report makes
    41,000 of them, and a frozen dataclass costs several times more to build)."""

    customers: int
    mrr: int  # MONEY_SCALE units
    mrr_gross: int
    complete: bool


@dataclass(frozen=True)
class CohortSeries:
    """One time-based (sub-)cohort: its initial values and its periods k = 0, 1, ..."""

    initial_customers: int
    initial_mrr: int  # MONEY_SCALE units
    periods: tuple[PeriodValues, ...]

    @property
    def empty(self) -> bool:
        return self.initial_customers == 0


@dataclass(frozen=True)
class PooledPeriod:
    """Sums over the cohorts pooled at period k (C_k), with their values at k - 1."""

    initial_customers: int
    initial_mrr: int  # MONEY_SCALE units, like every money field here
    customers: int
    mrr: int
    mrr_gross: int
    previous_customers: int
    previous_mrr: int
    complete: bool


def pool(series: Sequence[CohortSeries], k: int) -> PooledPeriod:
    """Pool the cohorts that reached period ``k`` (each cohort alone is a pool of one).

    For k = 0 the "previous" values are the initial ones' stand-ins: the relative
    percentages then equal the plain ones (SPEC: ``relative[0] = retention[0]``).
    """
    reached = [s for s in series if len(s.periods) > k]
    at_k = [s.periods[k] for s in reached]
    initial_customers = sum(s.initial_customers for s in reached)
    initial_mrr = sum(s.initial_mrr for s in reached)
    if k == 0:
        previous_customers, previous_mrr = initial_customers, initial_mrr
    else:
        previous_customers = sum(s.periods[k - 1].customers for s in reached)
        previous_mrr = sum(s.periods[k - 1].mrr for s in reached)
    return PooledPeriod(
        initial_customers=initial_customers,
        initial_mrr=initial_mrr,
        customers=sum(p.customers for p in at_k),
        mrr=sum(p.mrr for p in at_k),
        mrr_gross=sum(p.mrr_gross for p in at_k),
        previous_customers=previous_customers,
        previous_mrr=previous_mrr,
        complete=all(p.complete for p in at_k),
    )


def percentage(part: int, whole: int) -> Decimal:
    """Exact 100 × part / whole as a ``Decimal`` (50 digits); 0 when ``whole`` is 0."""
    if whole == 0:
        return Decimal(0)
    return Decimal(100) * Decimal(part) / Decimal(whole)


def period_fields(pooled: PooledPeriod) -> dict[str, Any]:
    """The seed's period fields plus ``complete`` and the gross pair, rounded at the end."""
    p = pooled
    return cell_fields(
        p.initial_customers,
        p.initial_mrr,
        p.customers,
        p.mrr,
        p.mrr_gross,
        p.previous_customers,
        p.previous_mrr,
        p.complete,
    )


def cell_fields(
    initial_customers: int,
    initial_mrr: int,
    customers: int,
    mrr: int,
    gross: int,
    previous_customers: int,
    previous_mrr: int,
    complete: bool,
) -> dict[str, Any]:
    """The fields of one cell, every percentage 100 × part / whole rounded half away
    from zero (0 when the whole is 0, SPEC: zero denominators; churn is 100 − the exact
    retention, then rounded), written out: a weekly report has 41,000 cells of 13
    fields and a call per field was most of its time. ``tests/engine/
    test_report_model.py`` checks it against an obvious ``Fraction`` reference."""
    # Retained values are sums of positive amounts, never negative. For a part x >= 0 of
    # a whole w > 0 (R = 10000 x / w hundredths of a percent), one division gives both
    # fields: q, r = divmod(20000 x + w, 2 w) makes q = floor(R + 1/2), the retention
    # rounded half away from zero; the churn 10000 - R rounds to 10000 - q, plus one
    # when it is a tie that is not negative (r == 0 and x <= w: there half away from
    # zero goes up, where the retention's went up too).
    if initial_mrr:
        q, r = divmod(20_000 * mrr + initial_mrr, 2 * initial_mrr)
        mrr_retention = q / 100
        mrr_churn = (10_000 - q + (r == 0 and mrr <= initial_mrr)) / 100
        gross_retention = (20_000 * gross + initial_mrr) // (2 * initial_mrr) / 100
    else:
        mrr_retention = mrr_churn = gross_retention = 0.0
    if initial_customers:
        q, r = divmod(20_000 * customers + initial_customers, 2 * initial_customers)
        customer_retention = q / 100
        customer_churn = (10_000 - q + (r == 0 and customers <= initial_customers)) / 100
    else:
        customer_retention = customer_churn = 0.0
    if previous_mrr:
        q, r = divmod(20_000 * mrr + previous_mrr, 2 * previous_mrr)
        mrr_relative = q / 100
        mrr_churn_relative = (10_000 - q + (r == 0 and mrr <= previous_mrr)) / 100
    else:
        mrr_relative = mrr_churn_relative = 0.0
    if previous_customers:
        q, r = divmod(20_000 * customers + previous_customers, 2 * previous_customers)
        customer_relative = q / 100
        customer_churn_relative = (10_000 - q + (r == 0 and customers <= previous_customers)) / 100
    else:
        customer_relative = customer_churn_relative = 0.0
    return {
        "mrr_retained": (200 * mrr + MONEY_SCALE) // (2 * MONEY_SCALE) / 100,
        "customers_retained": customers,
        "mrr_retention": mrr_retention,
        "customer_retention": customer_retention,
        "mrr_retention_relative": mrr_relative,
        "customer_retention_relative": customer_relative,
        "mrr_churn": mrr_churn,
        "customer_churn": customer_churn,
        "mrr_churn_relative": mrr_churn_relative,
        "customer_churn_relative": customer_churn_relative,
        "complete": complete,
        "mrr_retained_gross": (200 * gross + MONEY_SCALE) // (2 * MONEY_SCALE) / 100,
        "mrr_retention_gross": gross_retention,
    }


def _single_fields(series: CohortSeries) -> list[dict[str, Any]]:
    """A pool of one cohort (a time-based row): ``pool`` without the sums."""
    n, b = series.initial_customers, series.initial_mrr
    previous_customers, previous_mrr = n, b
    found = []
    for v in series.periods:
        found.append(
            cell_fields(
                n, b, v.customers, v.mrr, v.mrr_gross, previous_customers, previous_mrr, v.complete
            )
        )
        previous_customers, previous_mrr = v.customers, v.mrr
    return found


def _pooled_fields(series: Sequence[CohortSeries], count: int) -> list[dict[str, Any]]:
    """``period_fields(pool(series, k))`` for k < ``count``, in one pass per k."""
    found = []
    for k in range(count):
        n = b = customers = mrr = gross = previous_customers = previous_mrr = 0
        complete = True
        for s in series:
            periods = s.periods
            if len(periods) <= k:
                continue
            v = periods[k]
            n += s.initial_customers
            b += s.initial_mrr
            customers += v.customers
            mrr += v.mrr
            gross += v.mrr_gross
            complete = complete and v.complete
            if k:
                previous_customers += periods[k - 1].customers
                previous_mrr += periods[k - 1].mrr
        if not k:
            previous_customers, previous_mrr = n, b
        found.append(
            cell_fields(n, b, customers, mrr, gross, previous_customers, previous_mrr, complete)
        )
    return found


@dataclass(frozen=True)
class CohortRow:
    """One row of the list: a time-based cohort, a breakdown group, or ``average``."""

    cohort_group: str
    series: tuple[CohortSeries, ...]
    pooled_only: bool = False  # the average row carries no initial_* fields

    @property
    def initial_customers(self) -> int:
        return sum(s.initial_customers for s in self.series)

    @property
    def initial_mrr(self) -> int:
        return sum(s.initial_mrr for s in self.series)

    @property
    def period_count(self) -> int:
        """k runs up to the longest pooled cohort's; empty cohorts count only when alone."""
        return max((len(s.periods) for s in self.series), default=0)

    def periods(self) -> list[dict[str, Any]]:
        if len(self.series) == 1:
            return _single_fields(self.series[0])
        return _pooled_fields(self.series, self.period_count)

    def as_json(self) -> dict[str, Any]:
        row: dict[str, Any] = {"cohort_group": self.cohort_group}
        if not self.pooled_only:
            row["initial_mrr"] = money(self.initial_mrr)
            row["initial_customers"] = self.initial_customers
        row["periods"] = self.periods()
        return row


def average_row(series: Sequence[CohortSeries]) -> CohortRow:
    """The closing ``average`` row: pools the non-empty cohorts that reached each k."""
    return CohortRow(AVERAGE, tuple(s for s in series if not s.empty), pooled_only=True)


def as_list(rows: Sequence[CohortRow]) -> dict[str, Any]:
    """``{"list": [...]}`` (the default format)."""
    return {"list": [row.as_json() for row in rows]}


def as_chart(rows: Sequence[CohortRow]) -> list[dict[str, Any]]:
    """One entry per period index; each group that has that period, ``average`` included."""
    return chart_of([(row.cohort_group, row.periods()) for row in rows])


def chart_of(tables: Sequence[tuple[str, list[dict[str, Any]]]]) -> list[dict[str, Any]]:
    """``as_chart`` from each row's group and period fields."""
    length = max((len(periods) for _, periods in tables), default=0)
    chart: list[dict[str, Any]] = []
    for k in range(length):
        groups = {
            name: {"label": name, **periods[k]} for name, periods in tables if len(periods) > k
        }
        chart.append({"period": k, "breakdown": groups})
    return chart
