"""Run the retention report: queries (``engine.retention``) → exact rows (``report_model``).

``run_report(warehouse, scope, query)`` returns a ``Report``; ``Report.envelope(fmt)``
is the JSON body of SPEC §2. ``explain(warehouse, scope, query)`` returns the SQL.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any

import pyarrow as pa

from cohortd.engine.fx import RateBook
from cohortd.engine.periods import Interval, evaluation_day, first_day, last_day
from cohortd.engine.report_model import (
    ZERO,
    CohortRow,
    CohortSeries,
    PeriodValues,
    as_chart,
    as_list,
    average_row,
)
from cohortd.engine.retention import (
    NO_GROUP,
    ReportQuery,
    capped_flags,
    factor_table,
    gross_parts,
    initial_mrr,
    members,
    paying_stretches,
    period_mrr,
)
from cohortd.engine.spans import (
    candidates,
    count_deltas,
    foreign_gross,
    gross_deltas,
    mrr_deltas,
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


@dataclass(frozen=True)
class _Rates:
    """Exact minor-unit factors to the base currency for the days the report measures on."""

    book: RateBook
    query: ReportQuery
    _known: dict[tuple[str, date], Decimal] = field(default_factory=dict)
    _by_period: dict[tuple[str, int], Decimal] = field(default_factory=dict)

    def on(self, currency: str, day: date) -> Decimal:
        # one exact division per (currency, day), however many rows use it
        key = (currency, day)
        if key not in self._known:
            self._known[key] = self.book.minor_factor(currency, self.query.base_currency, day)
        return self._known[key]

    def at_period(self, currency: str, p0: int, p: int) -> Decimal:
        key = (currency, p0 if self.query.fix_fx else p)
        found = self._by_period.get(key)
        if found is None:
            found = self._by_period[key] = self.on(currency, self.period_day(p0, p))
        return found

    def at_initial(self, currency: str, p0: int, ps: date) -> Decimal:
        return self.on(currency, self.initial_day(p0, ps))

    def period_day(self, p0: int, p: int) -> date:
        if self.query.fix_fx:
            return first_day(p0, self.query.interval)
        return evaluation_day(p, as_of=self.query.as_of, interval=self.query.interval)

    def initial_day(self, p0: int, ps: date) -> date:
        return first_day(p0, self.query.interval) if self.query.fix_fx else ps


def _rate_pairs(
    query: ReportQuery,
    currencies: Iterable[str],
    cohorts: Iterable[Cohort],
    ps_pairs: set[tuple[str, date]],
) -> set[tuple[str, date]]:
    codes = set(currencies) | {query.base_currency}
    p0s = {p0 for _, p0 in cohorts}
    if query.fix_fx:
        days = {first_day(p0, query.interval) for p0 in p0s}
        return {(c, d) for c in codes for d in days}
    days = {
        evaluation_day(p, as_of=query.as_of, interval=query.interval)
        for p in range(min(p0s), query.current + 1)
    }
    initial = {(c, d) for c, d in ps_pairs} | {(query.base_currency, d) for _, d in ps_pairs}
    return {(c, d) for c in codes for d in days} | initial


def _factor_tables(
    rates: _Rates, currencies: set[str], cohorts: set[Cohort], ps_pairs: set[tuple[str, date]]
) -> tuple[Any, Any, str, str]:
    query = rates.query
    p0s = sorted({p0 for _, p0 in cohorts})
    if query.fix_fx:
        rows: dict[str, list[object]] = {"currency": [], "key": [], "f": []}
        for c in sorted(currencies):
            for p0 in p0s:
                rows["currency"].append(c)
                rows["key"].append(p0)
                rows["f"].append(float(rates.at_period(c, p0, p0)))
        table = factor_table(rows, "int")
        return table, table, "p0", "p0"
    period_rows: dict[str, list[object]] = {"currency": [], "key": [], "f": []}
    for c in sorted(currencies):
        for p in range(p0s[0], query.current + 1):
            period_rows["currency"].append(c)
            period_rows["key"].append(p)
            period_rows["f"].append(float(rates.at_period(c, p, p)))
    initial_rows: dict[str, list[object]] = {"currency": [], "key": [], "f": []}
    for c, d in sorted(ps_pairs):
        initial_rows["currency"].append(c)
        initial_rows["key"].append(d)
        initial_rows["f"].append(float(rates.on(c, d)))
    return factor_table(period_rows, "int"), factor_table(initial_rows, "date"), "p", "ps"


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
    universe = members(warehouse, scope, query)
    counted = warehouse.to_pyarrow(universe.group_by(["grp", "p0"]).agg(n=universe.count()))
    customers: dict[Cohort, int] = {(r["grp"], r["p0"]): r["n"] for r in _rows(counted)}
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
        _measure(warehouse, scope, query, sums)
    return Report(
        interval=query.interval,
        breakdown=str(query.breakdown) if query.breakdown else None,
        currency=query.base_currency,
        rows=tuple(_assemble(query, sums)),
    )


def _measure(warehouse: Warehouse, scope: Scope, query: ReportQuery, sums: _Sums) -> None:
    # The intermediate tables are used by several queries: cache them (temp tables) for
    # the duration of the report. The warehouse lock keeps them on one thread.
    with warehouse._lock, ExitStack() as cached:

        def keep(expr: Any) -> Any:
            return cached.enter_context(expr.cache())

        stretches = keep(paying_stretches(warehouse, scope, query))
        initial = keep(initial_mrr(stretches))
        rates, factors = _load_rates(warehouse, scope, query, sums, stretches, initial)
        # DuckDB plans joins against Arrow scans badly: the factors become temp tables
        for name in ("period_factors", "initial_factors"):
            temp = f"_report_{name}_{uuid.uuid4().hex[:12]}"
            factors[name] = warehouse.create_temp_table(temp, factors[name])
            cached.callback(warehouse.drop_temp_table, temp)
        flags = keep(candidates(stretches, initial, query))
        _sum_ranges(warehouse, query, sums, rates, stretches, flags)
        # the gross cap per (member, period), only where it depends on the rates
        uncapped, capped = foreign_gross(stretches, flags, query, **factors)
        _add_gross(warehouse, sums, rates, uncapped, capped)
        # members with several currencies: per (member, period, currency), summed
        chosen = flags.filter(flags.cand & (flags.currencies > 1))
        if not warehouse.execute(chosen.count()):
            return  # the usual case: skip building empty temp tables
        cand_initial = initial.semi_join(chosen, initial.customer_id == chosen.customer_id)
        cand_stretches = stretches.semi_join(chosen, stretches.customer_id == chosen.customer_id)
        amounts = keep(period_mrr(cand_stretches, query))
        flagged = keep(capped_flags(amounts, cand_initial, **factors))
        parts = gross_parts(amounts, cand_initial, flagged)
        retained = parts.retained.filter(~parts.retained.capped).drop("capped")
        _add_gross(warehouse, sums, rates, retained, parts.capped_initial)


def _add_gross(warehouse: Warehouse, sums: _Sums, rates: _Rates, kept: Any, capped: Any) -> None:
    """Adds the uncapped MRR (``grp, p0, p, currency, a``) and the capped members'
    initial MRR (``grp, p0, p, ps, currency, b``) to the gross sums, exactly."""
    gross = sums.gross
    names = ("grp", "p0", "p", "currency", "a")
    for grp, p0, p, currency, a in _columns(warehouse.to_pyarrow(kept), *names):
        gross[(grp, p0, p)] += Decimal(a) * rates.at_period(currency, p0, p)
    # up to a million rows on weekly reports: one factor look-up per (currency, p0, ps)
    factors: dict[tuple[str, int, date], Decimal] = {}
    columns = ("grp", "p0", "p", "ps", "currency", "b")
    for grp, p0, p, ps, currency, b in _columns(warehouse.to_pyarrow(capped), *columns):
        key = (currency, p0, ps)
        factor = factors.get(key)
        if factor is None:
            factor = factors[key] = rates.at_initial(currency, p0, ps)
        gross[(grp, p0, p)] += Decimal(b) * factor


def _running(table: pa.Table, keys: tuple[str, ...]) -> dict[tuple[Any, ...], dict[int, int]]:
    """Difference rows ``keys + (p, d)`` grouped by ``keys``: ``{key: {p: d}}``."""
    found: dict[tuple[Any, ...], dict[int, int]] = defaultdict(dict)
    for *key, p, d in _columns(table, *keys, "p", "d"):
        found[tuple(key)][p] = int(d)
    return found


def _sum_ranges(
    warehouse: Warehouse,
    query: ReportQuery,
    sums: _Sums,
    rates: _Rates,
    stretches: Any,
    flags: Any,
) -> None:
    """Retained customers and MRR (all members), and the gross of the non-candidates,
    from difference arrays: running sums over p0 .. current, exact integers."""
    counts = _running(warehouse.to_pyarrow(count_deltas(stretches, query)), ("grp", "p0"))
    for (grp, p0), level, p in _levels(counts, query.current):
        sums.retained_customers[(grp, p0, p)] += level
    keys = ("grp", "p0", "currency")
    mrr = _running(warehouse.to_pyarrow(mrr_deltas(stretches, query)), keys)
    for (grp, p0, currency), level, p in _levels(mrr, query.current):
        sums.retained[(grp, p0, p)] += Decimal(level) * rates.at_period(currency, p0, p)
    gross = _running(warehouse.to_pyarrow(gross_deltas(stretches, flags, query)), keys)
    for (grp, p0, currency), level, p in _levels(gross, query.current):
        sums.gross[(grp, p0, p)] += Decimal(level) * rates.at_period(currency, p0, p)


def _levels(
    found: dict[tuple[Any, ...], dict[int, int]], current: int
) -> Iterable[tuple[tuple[Any, ...], int, int]]:
    """``(key, level, p)`` for every non-zero running sum, p from the key's p0."""
    for key, deltas in found.items():
        level = 0
        for p in range(key[1], current + 1):
            level += deltas.get(p, 0)
            if level:
                yield key, level, p


def _load_rates(
    warehouse: Warehouse,
    scope: Scope,
    query: ReportQuery,
    sums: _Sums,
    stretches: Any,
    initial: Any,
) -> tuple[_Rates, dict[str, Any]]:
    """Exact rates for every (currency, day) measured on; fills the initial MRR sums."""
    initial_rows = _rows(
        warehouse.to_pyarrow(
            initial.group_by(["grp", "p0", "ps", "currency"]).agg(b=initial.b.sum())
        )
    )
    currencies = set(
        warehouse.to_pyarrow(stretches.select("currency").distinct()).column("currency").to_pylist()
    )
    ps_pairs = {(r["currency"], r["ps"]) for r in initial_rows}
    cohorts = set(sums.customers)
    book = RateBook.load(warehouse, scope, _rate_pairs(query, currencies, cohorts, ps_pairs))
    rates = _Rates(book, query)
    for r in initial_rows:
        amount = Decimal(int(r["b"])) * rates.at_initial(r["currency"], r["p0"], r["ps"])
        sums.initial[(r["grp"], r["p0"])] += amount
    period_f, initial_f, period_key, initial_key = _factor_tables(
        rates, currencies, cohorts, ps_pairs
    )
    factors = {
        "period_factors": period_f,
        "initial_factors": initial_f,
        "period_key": period_key,
        "initial_key": initial_key,
    }
    return rates, factors


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
    """The SQL of the report's main expressions, by name (factor tables left out)."""
    stretches = paying_stretches(warehouse, scope, query)
    initial = initial_mrr(stretches)
    flags = candidates(stretches, initial, query)
    return {
        "members": warehouse.compile(members(warehouse, scope, query)),
        "initial_mrr": warehouse.compile(initial),
        "mrr_deltas": warehouse.compile(mrr_deltas(stretches, query)),
        "count_deltas": warehouse.compile(count_deltas(stretches, query)),
        "gross_deltas": warehouse.compile(gross_deltas(stretches, flags, query)),
    }
