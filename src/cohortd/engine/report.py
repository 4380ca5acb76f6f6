"""Run the retention report: queries (``engine.retention``) → exact rows (``report_model``).

``run_report(warehouse, scope, query)`` returns a ``Report``; ``Report.envelope(fmt)``
is the JSON body of SPEC §2. ``explain(warehouse, scope, query)`` returns the SQL.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from contextlib import ExitStack
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

import ibis
import pyarrow as pa

from cohortd.engine.fx import RateBook
from cohortd.engine.periods import Interval, last_day
from cohortd.engine.report_model import (
    ZERO,
    CohortRow,
    CohortSeries,
    PeriodValues,
    as_chart,
    as_list,
    average_row,
)
from cohortd.engine.retention import NO_GROUP, ReportQuery
from cohortd.engine.triangle import (
    Factors,
    cohort_sizes,
    factors,
    measured_pairs,
    rate_days,
    triangle,
)
from cohortd.errors import ReportTooLarge
from cohortd.warehouse import Scope, Warehouse

Cohort = tuple[str, int]  # (group, p0)


class ReportFormat(StrEnum):
    list = "list"
    chart = "chart"


@dataclass(frozen=True)
class Report:
    """A computed report: rows in order, ``average`` last."""

    interval: Interval
    breakdown: str | None
    currency: str
    rows: tuple[CohortRow, ...]

    def envelope(self, fmt: ReportFormat = ReportFormat.list) -> dict[str, Any]:
        result: Any = as_chart(self.rows) if fmt is ReportFormat.chart else as_list(self.rows)
        return {
            "interval": str(self.interval),
            "breakdown": self.breakdown,
            "currency": self.currency,
            "result": result,
        }


def _rows(table: pa.Table) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = table.to_pylist()
    return rows


def _columns(table: pa.Table, *names: str) -> Iterable[tuple[Any, ...]]:
    """Rows as tuples of ``names`` (much faster than dicts for large results)."""
    return zip(*(table.column(n).to_pylist() for n in names), strict=True)


def report_cells(query: ReportQuery, first_periods: dict[str, int]) -> int:
    """Cells (cohort rows × periods) the report will hold, ``average`` included."""
    current = query.current
    if not first_periods:
        return 0
    if query.breakdown is None:
        cohorts = current - min(first_periods.values()) + 1
        return cohorts * (cohorts + 1) // 2 + cohorts
    longest = current - min(first_periods.values()) + 1
    return sum(current - p + 1 for p in first_periods.values()) + longest


def _check_size(query: ReportQuery, first_periods: dict[str, int], max_cells: int | None) -> None:
    cells = report_cells(query, first_periods)
    if max_cells is not None and cells > max_cells:
        raise ReportTooLarge(
            f"The report would hold {cells} cells (cohorts x periods), more than the limit "
            f"of {max_cells}: narrow it with a later 'date'-range start (filters such as "
            "'region' or 'currency'), or a longer 'interval' (month, quarter, year)."
        )


@dataclass
class _Sums:
    """Exact per-cohort accumulators filled from the query results."""

    customers: dict[Cohort, int]
    initial: dict[Cohort, Decimal]
    retained_customers: dict[tuple[str, int, int], int]
    retained: dict[tuple[str, int, int], Decimal]
    gross: dict[tuple[str, int, int], Decimal]


def run_report(
    warehouse: Warehouse, scope: Scope, query: ReportQuery, *, max_cells: int | None = None
) -> Report:
    """Compute the report for ``scope`` (raises ``ReportTooLarge``, ``UnknownCurrency``)."""
    counted = warehouse.to_pyarrow(cohort_sizes(warehouse, scope, query))
    customers: dict[Cohort, int] = {
        (grp, p0): n for grp, p0, n in _columns(counted, "grp", "p0", "n")
    }
    first_periods: dict[str, int] = {}
    for grp, p0 in customers:
        first_periods[grp] = min(p0, first_periods.get(grp, p0))
    _check_size(query, first_periods, max_cells)
    sums = _Sums(
        customers,
        defaultdict(lambda: ZERO),
        defaultdict(int),
        defaultdict(lambda: ZERO),
        defaultdict(lambda: ZERO),
    )
    if customers:
        _measure(warehouse, scope, query, sums, min(first_periods.values()))
    return Report(
        interval=query.interval,
        breakdown=str(query.breakdown) if query.breakdown else None,
        currency=query.base_currency,
        rows=tuple(_assemble(query, sums)),
    )


def factor_tables(
    warehouse: Warehouse, scope: Scope, query: ReportQuery, first_period: int
) -> Factors:
    pairs = warehouse.to_pyarrow(measured_pairs(warehouse, scope, query))
    currencies = set(pairs.column("currency").to_pylist())
    starts = {(c, d) for c, d in _columns(pairs, "currency", "ps") if d is not None}
    days = rate_days(query, first_period, starts)
    wanted = {(c, d) for c in currencies | {query.base_currency} for d in days}
    book = RateBook.load(warehouse, scope, wanted)
    return factors(book, query, currencies, starts, first_period)


def _measure(
    warehouse: Warehouse, scope: Scope, query: ReportQuery, sums: _Sums, first_period: int
) -> None:
    found = factor_tables(warehouse, scope, query, first_period)
    token = uuid.uuid4().hex[:12]
    # the warehouse lock keeps the temp tables on one thread for the report's duration
    with warehouse._lock, ExitStack() as cleanup:
        tables = {}
        for name, rows in (("by_period", found.by_period), ("by_day", found.by_day)):
            temp = f"_report_{name}_{token}"
            tables[name] = warehouse.create_temp_table(temp, ibis.memtable(rows))
            cleanup.callback(warehouse.drop_temp_table, temp)
        result = warehouse.to_pyarrow(triangle(warehouse, scope, query, **tables))
    for kind, grp, p0, p, value in _columns(result, "kind", "grp", "p0", "p", "value"):
        match kind:
            case "customers":
                sums.retained_customers[(grp, p0, p)] += int(value)
            case "mrr":
                sums.retained[(grp, p0, p)] += value
            case "gross":
                sums.gross[(grp, p0, p)] += value
            case "initial":
                sums.initial[(grp, p0)] += value


def _series(query: ReportQuery, sums: _Sums, grp: str, p0: int) -> CohortSeries:
    current = query.current
    date_is_last = query.as_of == last_day(current, query.interval)
    periods = tuple(
        PeriodValues(
            customers=sums.retained_customers.get((grp, p0, p), 0),
            mrr=sums.retained.get((grp, p0, p), ZERO),
            mrr_gross=sums.gross.get((grp, p0, p), ZERO),
            complete=p < current or date_is_last,
        )
        for p in range(p0, current + 1)
    )
    return CohortSeries(
        initial_customers=sums.customers.get((grp, p0), 0),
        initial_mrr=sums.initial.get((grp, p0), ZERO),
        periods=periods,
    )


def _assemble(query: ReportQuery, sums: _Sums) -> list[CohortRow]:
    if not sums.customers:
        return [average_row(())]
    if query.breakdown is None:
        start = min(p0 for _, p0 in sums.customers)
        series = [_series(query, sums, NO_GROUP, p0) for p0 in range(start, query.current + 1)]
        rows = [
            CohortRow(last_day(p0, query.interval).isoformat(), (s,))
            for p0, s in zip(range(start, query.current + 1), series, strict=True)
        ]
        return [*rows, average_row(series)]
    by_group: dict[str, list[CohortSeries]] = defaultdict(list)
    for grp, p0 in sorted(sums.customers):
        by_group[grp].append(_series(query, sums, grp, p0))
    groups = [CohortRow(grp, tuple(series)) for grp, series in by_group.items()]
    groups.sort(key=lambda row: (-row.initial_mrr, row.cohort_group))
    every = [s for series in by_group.values() for s in series]
    return [*groups, average_row(every)]


def explain(warehouse: Warehouse, scope: Scope, query: ReportQuery) -> dict[str, str]:
    """The SQL of the report's queries, by name (the factor tables are empty here)."""
    empty = Factors(
        by_period=pa.table(
            {
                "currency": pa.array([], pa.string()),
                "p": pa.array([], pa.int64()),
                "f": pa.array([], pa.decimal128(38, 18)),
                "f_first": pa.array([], pa.decimal128(38, 18)),
            }
        ),
        by_day=pa.table(
            {
                "currency": pa.array([], pa.string()),
                "day": pa.array([], pa.date32()),
                "f": pa.array([], pa.decimal128(38, 18)),
            }
        ),
    )
    by_period, by_day = ibis.memtable(empty.by_period), ibis.memtable(empty.by_day)
    return {
        "cohort_sizes": warehouse.compile(cohort_sizes(warehouse, scope, query)),
        "measured_pairs": warehouse.compile(measured_pairs(warehouse, scope, query)),
        "triangle": warehouse.compile(triangle(warehouse, scope, query, by_period, by_day)),
    }
