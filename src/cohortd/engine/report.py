"""Run the retention report: queries (``engine.retention``) → exact rows (``report_model``).

``run_report(warehouse, scope, query)`` returns a ``Report``; ``Report.envelope(fmt)``
is the JSON body of SPEC §2. ``explain(warehouse, scope, query)`` returns the SQL.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
import weakref
from collections import OrderedDict
from collections.abc import Iterable
from contextlib import ExitStack
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from functools import cached_property
from typing import Any, Final

import ibis
import ibis.expr.operations as ops
import pyarrow as pa

from cohortd.engine import collection, derived
from cohortd.engine.compiled import compiled
from cohortd.engine.factors import Factors, factors, rate_days
from cohortd.engine.fx import RateBook, UnknownCurrency, own_rates
from cohortd.engine.grouped_cells import GroupedCells, grouped_cells
from cohortd.engine.periods import Interval, last_day
from cohortd.engine.report_model import (
    CohortRow,
    as_chart,
    as_list,
    average_row,
)
from cohortd.engine.retention import ReportQuery
from cohortd.engine.time_cells import TimeCells, time_cells
from cohortd.engine.triangle import measured_pairs, triangle
from cohortd.engine.triangle_blocks import cohort_sizes
from cohortd.engine.whole_scope import whole_scope
from cohortd.errors import ReportTooLarge
from cohortd.warehouse import Scope, Warehouse

Cohort = tuple[str, int]  # (group, p0)


class ReportFormat(StrEnum):
    list = "list"
    chart = "chart"


@dataclass(frozen=True)
class Report:
    """A computed report: ``rows`` in order, ``average`` last. A report keeps its cells
    column by column (``engine.time_cells``; with a breakdown ``engine.grouped_cells``)
    and makes the rows only when asked."""

    interval: Interval
    breakdown: str | None
    currency: str
    computed: tuple[CohortRow, ...] | TimeCells | GroupedCells

    @cached_property
    def rows(self) -> tuple[CohortRow, ...]:
        found = self.computed
        return found.rows() if isinstance(found, TimeCells | GroupedCells) else found

    def envelope(self, fmt: ReportFormat = ReportFormat.list) -> dict[str, Any]:
        chart = fmt is ReportFormat.chart
        found = self.computed
        result: Any
        with collection.paused():  # tens of thousands of cells (engine.collection)
            if isinstance(found, TimeCells | GroupedCells):
                result = found.as_chart() if chart else found.as_list()
            else:
                result = as_chart(found) if chart else as_list(found)
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
    if not query.grouped:
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


def run_report(
    warehouse: Warehouse, scope: Scope, query: ReportQuery, *, max_cells: int | None = None
) -> Report:
    """Compute the report for ``scope`` (raises ``ReportTooLarge``, ``UnknownCurrency``),
    the garbage collector paused (``engine.collection``: its passes over the cells cost
    a third of a weekly report's Python time)."""
    derived.catch_up(warehouse, scope)  # a recent import's changes, if still waiting
    with collection.paused():
        return _report(warehouse, scope, query, max_cells)


def _report(
    warehouse: Warehouse, scope: Scope, query: ReportQuery, max_cells: int | None
) -> Report:
    counted = _run(warehouse, scope, query, "sizes", lambda: cohort_sizes(warehouse, scope, query))
    customers: dict[Cohort, int] = {
        # int(): PostgreSQL's EXTRACT answers numeric through a raw cursor
        (grp, int(p0)): int(n)
        for grp, p0, n in _columns(counted, "grp", "p0", "n")
    }
    first_periods: dict[str, int] = {}
    for grp, p0 in customers:
        first_periods[grp] = min(p0, first_periods.get(grp, p0))
    _check_size(query, first_periods, max_cells)
    computed: tuple[CohortRow, ...] | TimeCells | GroupedCells
    if not customers:
        computed = (average_row(()),)
    else:
        result = _measure(warehouse, scope, query, min(first_periods.values()))
        scaled = {name: _scaled_array(result, name) for name in ("mrr", "gross", "initial")}
        if query.grouped:  # pooled rows column by column (engine.grouped_cells)
            computed = grouped_cells(
                result,
                scaled,
                customers,
                current=query.current,
                last_incomplete=query.as_of != last_day(query.current, query.interval),
            )
        else:  # column by column (engine.time_cells)
            computed = time_cells(
                result,
                scaled,
                {p0: n for (_, p0), n in customers.items()},
                interval=query.interval,
                as_of=query.as_of,
                current=query.current,
            )
    return Report(
        interval=query.interval,
        breakdown=str(query.breakdown) if query.breakdown else None,
        currency=query.base_currency,
        computed=computed,
    )


def factor_tables(
    warehouse: Warehouse, scope: Scope, query: ReportQuery, first_period: int
) -> Factors:
    """The exact factors of every (currency, day) the report measures on.

    They are a function of the query, the measured (currency, paid start) pairs and the
    rates: the last ones made are kept per warehouse (``_FACTOR_CACHE``), keyed by the
    pairs' and the organization's own rates' digests (the shipped ECB history never
    changes), so a report asked again after no write skips building them (0.1-0.2 s
    at a million customers: tens of thousands of exact divisions).

    Raises ``UnknownCurrency`` for a converted amount's currency without any rate; one
    that no converted amount is in needs none (``measured_pairs``)."""
    try:
        return _factor_tables(warehouse, scope, query, first_period, covering=False)
    except UnknownCurrency:
        if whole_scope(query):  # its pairs are the converted ones already
            raise
        return _factor_tables(warehouse, scope, query, first_period, covering=True)


def _factor_tables(
    warehouse: Warehouse, scope: Scope, query: ReportQuery, first_period: int, *, covering: bool
) -> Factors:
    pairs = _run(
        warehouse,
        scope,
        query,
        "covering pairs" if covering else "pairs",
        lambda: measured_pairs(warehouse, scope, query, covering=covering),
    )
    currencies = set(pairs.column("currency").to_pylist())
    own = own_rates(warehouse, scope, currencies | {query.base_currency})
    key = (
        scope,
        query.as_of,
        query.interval,
        query.base_currency,
        query.fix_fx,
        first_period,
        _digest(pairs),
        own.digest,
    )
    with _factor_lock:
        kept = _FACTOR_CACHE.setdefault(warehouse, OrderedDict())
        found = kept.get(key)
        if found is not None:
            kept.move_to_end(key)
            return found
    starts = {(c, d) for c, d in _columns(pairs, "currency", "ps") if d is not None}
    days = rate_days(query, first_period, starts)
    wanted = {(c, d) for c in currencies | {query.base_currency} for d in days}
    book = RateBook.load(warehouse, scope, wanted, own)
    made = factors(book, query, currencies, starts, first_period)
    with _factor_lock:
        kept[key] = made
        while len(kept) > _FACTOR_ENTRIES:
            kept.popitem(last=False)
    return made


_FACTOR_ENTRIES: Final = 32  # per warehouse; a monthly entry at 1M customers is ~1 MB
_FACTOR_CACHE: weakref.WeakKeyDictionary[Warehouse, OrderedDict[tuple[Any, ...], Factors]] = (
    weakref.WeakKeyDictionary()
)
_factor_lock: Final = threading.Lock()


def _digest(pairs: pa.Table) -> str:
    """A digest of the rows of ``pairs`` in a fixed order."""
    ordered = pairs.sort_by([("currency", "ascending"), ("ps", "ascending")]).combine_chunks()
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, ordered.schema) as writer:
        writer.write_table(ordered)
    return hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest()


# The SQL of a report depends on its parameters and scope only, never on the data: it is
# compiled once per key (building and compiling the expressions costs more than running
# them on small data) and kept by ``engine.compiled``.


def _run(warehouse: Warehouse, scope: Scope, query: ReportQuery, name: str, build: Any) -> pa.Table:
    """The rows of ``build()``: cached SQL, or through Ibis for a member restriction
    that holds in-memory tables (Ibis registers them as it runs)."""
    key = _key(warehouse, scope, query, name)
    if key is None:
        return warehouse.to_pyarrow(build())
    return warehouse.fetch_arrow(compiled(warehouse, key, build))


def _key(
    warehouse: Warehouse, scope: Scope, query: ReportQuery, name: str
) -> tuple[Any, ...] | None:
    """Everything the statement's SQL depends on; None when it cannot be cached: a
    member restriction holding an in-memory table (Ibis registers those as it runs)."""
    restrictions: list[str | None] = []
    for given in (query.members, query.groups):
        if given is None:
            restrictions.append(None)
            continue
        restriction = _restriction_sql(warehouse, given)
        if restriction is None:
            return None
        restrictions.append(restriction)
    return (
        "report",
        name,
        scope,
        query.as_of,
        query.interval,
        query.base_currency,
        query.breakdown,
        query.fix_fx,
        query.filters,
        *restrictions,
    )


_RESTRICTIONS: Final = 256
_restriction_lock: Final = threading.Lock()
_restrictions: OrderedDict[tuple[str, Any], str | None] = OrderedDict()


def _restriction_sql(warehouse: Warehouse, given: ibis.Table) -> str | None:
    """The SQL of a member restriction (``members`` or ``groups``), which names the
    report's SQL in the compiled-statement cache: a cohort's members as of a day are
    the same SQL each time its curve is asked. None for one that holds an in-memory
    table. Kept per expression (a report asks for it once per statement)."""
    key = (warehouse.name, given.op())
    with _restriction_lock:
        if key in _restrictions:
            _restrictions.move_to_end(key)
            return _restrictions[key]
    found = None if given.op().find(ops.InMemoryTable) else warehouse.compile(given)
    with _restriction_lock:
        _restrictions[key] = found
        while len(_restrictions) > _RESTRICTIONS:
            _restrictions.popitem(last=False)
    return found


def _temp_names(warehouse: Warehouse, scope: Scope, query: ReportQuery) -> tuple[str, str]:
    """Names of the factor tables: fixed per key, so the cached SQL finds them (temp
    tables belong to one connection: a reader's own, or the main one under the lock)."""
    key = _key(warehouse, scope, query, "factors")
    token = (
        hashlib.sha256(repr(key).encode()).hexdigest()[:16]
        if key is not None
        else uuid.uuid4().hex[:16]
    )
    return f"_report_by_period_{token}", f"_report_by_day_{token}"


def _measure(warehouse: Warehouse, scope: Scope, query: ReportQuery, first_period: int) -> pa.Table:
    """The triangle's rows (``engine.triangle``)."""
    found = factor_tables(warehouse, scope, query, first_period)
    by_period_name, by_day_name = _temp_names(warehouse, scope, query)
    with warehouse.holding(), ExitStack() as cleanup:
        cleanup.enter_context(warehouse.analytic())
        for temp, rows in ((by_period_name, found.by_period), (by_day_name, found.by_day)):
            warehouse.drop_temp_table(temp)
            warehouse.put_temp_table(temp, rows)
            cleanup.callback(warehouse.drop_temp_table, temp)

        def build() -> ibis.Table:  # only when the SQL is not compiled yet
            by_period, by_day = map(warehouse.temp_table, (by_period_name, by_day_name))
            return triangle(warehouse, scope, query, by_period, by_day)

        return _run(warehouse, scope, query, "triangle", build)


_SCALED: Final = pa.decimal128(38, 18)  # the triangle's money columns


def _scaled_array(table: pa.Table, name: str) -> pa.Array:
    """An exact decimal column (at most 18 places) as one ``decimal128(38, 18)`` array."""
    column = table.column(name)
    if pa.types.is_null(column.type):
        return pa.nulls(len(column), _SCALED)
    if not pa.types.is_decimal(column.type):  # PostgreSQL through a raw cursor
        column = pa.array([None if v is None else Decimal(v) for v in column.to_pylist()])
    if column.type != _SCALED:
        column = column.cast(_SCALED)
    array: pa.Array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    return array


def explain(warehouse: Warehouse, scope: Scope, query: ReportQuery) -> dict[str, str]:
    """The SQL of the report's queries, by name (the factor tables are empty here)."""
    empty = Factors(
        by_period=pa.table(
            {
                "currency": pa.array([], pa.string()),
                "p": pa.array([], pa.int64()),
                "f": pa.array([], pa.decimal128(38, 18)),
                "f_first": pa.array([], pa.decimal128(38, 18)),
                "fd": pa.array([], pa.float64()),
            }
        ),
        by_day=pa.table(
            {
                "currency": pa.array([], pa.string()),
                "day": pa.array([], pa.date32()),
                "f": pa.array([], pa.decimal128(38, 18)),
                "fd": pa.array([], pa.float64()),
            }
        ),
    )
    by_period, by_day = ibis.memtable(empty.by_period), ibis.memtable(empty.by_day)
    return {
        "cohort_sizes": warehouse.compile(cohort_sizes(warehouse, scope, query)),
        "measured_pairs": warehouse.compile(measured_pairs(warehouse, scope, query)),
        "triangle": warehouse.compile(triangle(warehouse, scope, query, by_period, by_day)),
    }
