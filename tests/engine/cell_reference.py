"""The report's cells the obvious way, for the tests: one exact ``PeriodValues`` per
cell from the triangle's rows, pooled by ``report_model`` (``pool`` semantics, one
``cell_fields`` per cell). ``engine.time_cells`` and ``engine.grouped_cells`` compute
the same report column by column and are compared with this."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import pyarrow as pa

from cohortd.engine.periods import last_day
from cohortd.engine.report import _scaled_array
from cohortd.engine.report_model import CohortRow, CohortSeries, PeriodValues, average_row
from cohortd.engine.retention import NO_GROUP, ReportQuery
from cohortd.engine.time_cells import words


def triangle_table(rows: dict[str, list[Any]]) -> pa.Table:
    """A triangle's rows as the query returns them: ``grp`` (``NO_GROUP`` when absent),
    ``p0, p, customers`` and the money columns from integers of 10⁻¹⁸ units."""
    decimal = pa.decimal128(38, 18)

    def money(values: list[int | None]) -> pa.Array:
        return pa.array([None if v is None else Decimal(v).scaleb(-18) for v in values], decimal)

    count = len(rows["p0"])
    return pa.table(
        {
            "grp": pa.array(rows.get("grp", [NO_GROUP] * count), pa.string()),
            "p0": pa.array(rows["p0"], pa.int64()),
            "p": pa.array(rows["p"], pa.int64()),
            "customers": pa.array(rows["customers"], pa.int64()),
            "mrr": money(rows["mrr"]),
            "gross": money(rows["gross"]),
            "initial": money(rows["initial"]),
        }
    )


def scaled_integers(table: pa.Table, name: str) -> list[int | None]:
    """An exact decimal column as integers of 10⁻¹⁸ units, nulls as None."""
    array = _scaled_array(table, name)
    found = words(array)
    valid = array.is_valid().to_pylist()
    return [found.exact(i) if ok else None for i, ok in enumerate(valid)]


def _columns(table: pa.Table, *names: str) -> Iterable[tuple[Any, ...]]:
    return zip(*(table.column(n).to_pylist() for n in names), strict=True)


def exact_rows(
    table: pa.Table, sizes: dict[tuple[str, int], int], query: ReportQuery
) -> list[CohortRow]:
    """The report's rows from the triangle ``table`` (``grp, p0, p, customers, mrr,
    gross, initial``) for the (group, p0) cohorts of ``sizes``."""
    cells: dict[tuple[str, int, int], tuple[int, int, int]] = {}
    initial: dict[tuple[str, int], int] = defaultdict(int)
    keys = _columns(table, "grp", "p0", "p", "customers")
    money = (scaled_integers(table, name) for name in ("mrr", "gross", "initial"))
    for (grp, p0, p, customers), mrr, gross, start in zip(keys, *money, strict=True):
        if customers is not None or mrr is not None or gross is not None:
            cells[(grp, int(p0), int(p))] = (customers or 0, mrr or 0, gross or 0)
        if start is not None:
            initial[(grp, int(p0))] = start
    current = query.current
    date_is_last = query.as_of == last_day(current, query.interval)

    def series(grp: str, p0: int) -> CohortSeries:
        periods = tuple(
            PeriodValues(*cells.get((grp, p0, p), (0, 0, 0)), p < current or date_is_last)
            for p in range(p0, current + 1)
        )
        return CohortSeries(sizes.get((grp, p0), 0), initial.get((grp, p0), 0), periods)

    if not sizes:
        return [average_row(())]
    if not query.grouped:
        start = min(p0 for _, p0 in sizes)
        found = [series(NO_GROUP, p0) for p0 in range(start, current + 1)]
        rows = [
            CohortRow(last_day(p0, query.interval).isoformat(), (s,))
            for p0, s in zip(range(start, current + 1), found, strict=True)
        ]
        return [*rows, average_row(found)]
    by_group: dict[str, list[CohortSeries]] = defaultdict(list)
    for grp, p0 in sorted(sizes):
        by_group[grp].append(series(grp, p0))
    groups = [CohortRow(grp, tuple(s)) for grp, s in by_group.items()]
    groups.sort(key=lambda row: (-row.initial_mrr, row.cohort_group))
    return [*groups, average_row([s for found in by_group.values() for s in found])]
