"""The retention report's numbers after the queries: exact series, pooling, percentages.

The engine's queries (``engine.retention``) return exact aggregates; this module turns
them into SPEC §2's rows. All arithmetic is ``Decimal``; rounding (half away from zero,
2 decimals) happens once, in ``CohortRow.as_json``/``period_fields``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from cohortd.engine.money import round_half_away

ZERO: Final = Decimal(0)
HUNDRED: Final = Decimal(100)
AVERAGE: Final = "average"


@dataclass(frozen=True)
class PeriodValues:
    """One cohort's exact values at period index k."""

    customers: int
    mrr: Decimal
    mrr_gross: Decimal
    complete: bool


@dataclass(frozen=True)
class CohortSeries:
    """One time-based (sub-)cohort: its initial values and its periods k = 0, 1, ..."""

    initial_customers: int
    initial_mrr: Decimal
    periods: tuple[PeriodValues, ...]

    @property
    def empty(self) -> bool:
        return self.initial_customers == 0


@dataclass(frozen=True)
class PooledPeriod:
    """Sums over the cohorts pooled at period k (C_k), with their values at k - 1."""

    initial_customers: int
    initial_mrr: Decimal
    customers: int
    mrr: Decimal
    mrr_gross: Decimal
    previous_customers: int
    previous_mrr: Decimal
    complete: bool


def pool(series: Sequence[CohortSeries], k: int) -> PooledPeriod:
    """Pool the cohorts that reached period ``k`` (each cohort alone is a pool of one).

    For k = 0 the "previous" values are the initial ones' stand-ins: the relative
    percentages then equal the plain ones (SPEC: ``relative[0] = retention[0]``).
    """
    reached = [s for s in series if len(s.periods) > k]
    at_k = [s.periods[k] for s in reached]
    initial_customers = sum(s.initial_customers for s in reached)
    initial_mrr = sum((s.initial_mrr for s in reached), ZERO)
    if k == 0:
        previous_customers, previous_mrr = initial_customers, initial_mrr
    else:
        previous_customers = sum(s.periods[k - 1].customers for s in reached)
        previous_mrr = sum((s.periods[k - 1].mrr for s in reached), ZERO)
    return PooledPeriod(
        initial_customers=initial_customers,
        initial_mrr=initial_mrr,
        customers=sum(p.customers for p in at_k),
        mrr=sum((p.mrr for p in at_k), ZERO),
        mrr_gross=sum((p.mrr_gross for p in at_k), ZERO),
        previous_customers=previous_customers,
        previous_mrr=previous_mrr,
        complete=all(p.complete for p in at_k),
    )


def percentage(part: Decimal | int, whole: Decimal | int) -> Decimal:
    """Exact 100 × part / whole; 0 when ``whole`` is 0 (SPEC: zero denominators)."""
    if whole == 0:
        return ZERO
    return HUNDRED * Decimal(part) / Decimal(whole)


def _rounded(value: Decimal) -> float:
    return float(round_half_away(value))


def _twin(retention: Decimal, whole: Decimal | int) -> Decimal:
    """The churn twin: 100 − the exact retention, and 0 with it when its denominator is 0."""
    return ZERO if whole == 0 else HUNDRED - retention


def period_fields(pooled: PooledPeriod) -> dict[str, Any]:
    """The seed's period fields plus ``complete`` and the gross pair, rounded at the end."""
    mrr_ret = percentage(pooled.mrr, pooled.initial_mrr)
    cus_ret = percentage(pooled.customers, pooled.initial_customers)
    mrr_rel = percentage(pooled.mrr, pooled.previous_mrr)
    cus_rel = percentage(pooled.customers, pooled.previous_customers)
    return {
        "mrr_retained": _rounded(pooled.mrr),
        "customers_retained": pooled.customers,
        "mrr_retention": _rounded(mrr_ret),
        "customer_retention": _rounded(cus_ret),
        "mrr_retention_relative": _rounded(mrr_rel),
        "customer_retention_relative": _rounded(cus_rel),
        "mrr_churn": _rounded(_twin(mrr_ret, pooled.initial_mrr)),
        "customer_churn": _rounded(_twin(cus_ret, pooled.initial_customers)),
        "mrr_churn_relative": _rounded(_twin(mrr_rel, pooled.previous_mrr)),
        "customer_churn_relative": _rounded(_twin(cus_rel, pooled.previous_customers)),
        "complete": pooled.complete,
        "mrr_retained_gross": _rounded(pooled.mrr_gross),
        "mrr_retention_gross": _rounded(percentage(pooled.mrr_gross, pooled.initial_mrr)),
    }


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
    def initial_mrr(self) -> Decimal:
        return sum((s.initial_mrr for s in self.series), ZERO)

    @property
    def period_count(self) -> int:
        """k runs up to the longest pooled cohort's; empty cohorts count only when alone."""
        return max((len(s.periods) for s in self.series), default=0)

    def periods(self) -> list[dict[str, Any]]:
        return [period_fields(pool(self.series, k)) for k in range(self.period_count)]

    def as_json(self) -> dict[str, Any]:
        row: dict[str, Any] = {"cohort_group": self.cohort_group}
        if not self.pooled_only:
            row["initial_mrr"] = _rounded(self.initial_mrr)
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
    tables = [(row.cohort_group, row.periods()) for row in rows]
    length = max((len(periods) for _, periods in tables), default=0)
    chart: list[dict[str, Any]] = []
    for k in range(length):
        groups = {
            name: {"label": name, **periods[k]} for name, periods in tables if len(periods) > k
        }
        chart.append({"period": k, "breakdown": groups})
    return chart
