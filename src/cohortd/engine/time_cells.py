"""The cells of a report without breakdown, column by column (issue #4).

A report without ``breakdown`` has one row per time-based cohort, each a pool of one,
and the ``average`` row. ``report_model`` computes a cell exactly with Python integers,
one call per cell; a weekly report at a million customers has 41,000 cells, and reading
them into per-cohort series and that loop were a fifth of its time. Here the same
numbers come from numpy arrays over the query's result:

- counts and customer percentages exactly, in int64;
- money and money percentages in double precision, then checked: a cell with a value
  whose double lies within a relative 1e-12 of a rounding boundary (x.xx5 for money,
  x.xx5 % for a percentage; the doubles' own error is a few 1e-16) or with a negative
  amount is computed again exactly by ``report_model.cell_fields``, so every output is the
  exact one (``tests/engine/test_time_cells.py`` compares both forms, ties included);
- the ``average`` row exactly by ``pooled_periods``, which every pooled row of a
  report uses (a breakdown's groups too: ``engine.grouped_cells``): its sums over C_k
  are added per period as 32-bit limbs in int64 and put together as Python integers,
  then ``cell_fields`` once per pooled cell.

Cells are kept flat: cohort i (period ``start + i``) has ``C - i`` periods, from offset
``i * C - i * (i - 1) / 2``; memory is proportional to the report's cells, which the
size cap bounds.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import date
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from cohortd.engine.periods import Interval, last_day
from cohortd.engine.report_model import (
    AVERAGE,
    CohortRow,
    CohortSeries,
    PeriodValues,
    average_row,
    cell_fields,
    chart_of,
    money,
)

_TOLERANCE: Final = 1e-12  # relative; doubles are off by a few 1e-16 here
_TWO_64: Final = float(2**64)
_LOW_32: Final = np.uint64(0xFFFFFFFF)

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Words:
    """Exact amounts in 10⁻¹⁸ units as their two 64-bit words: ``hi * 2**64 + lo``."""

    hi: Ints
    lo: npt.NDArray[np.uint64]

    @classmethod
    def zeros(cls, count: int) -> Words:
        return cls(np.zeros(count, np.int64), np.zeros(count, np.uint64))

    def exact(self, index: int) -> int:
        return (int(self.hi[index]) << 64) + int(self.lo[index])

    def approx(self) -> Floats:
        return self.hi.astype(np.float64) * _TWO_64 + self.lo.astype(np.float64)

    def put(self, where: Ints, source: Words) -> None:
        self.hi[where] = source.hi
        self.lo[where] = source.lo

    def take(self, where: Ints) -> Words:
        return Words(self.hi[where], self.lo[where])


def sums(values: Words, bins: Ints, count: int) -> list[int]:
    """Exact sums of ``values`` per bin (0 ≤ bin < count), as Python integers: the low
    word split in two 32-bit limbs so that no int64 sum can overflow."""
    totals = []
    limbs = (values.hi, values.lo >> np.uint64(32), values.lo & _LOW_32)
    for limb in limbs:
        total = np.zeros(count, np.int64)
        np.add.at(total, bins, limb.astype(np.int64))
        totals.append(total.tolist())
    return [(h << 64) + (m << 32) + lo for h, m, lo in zip(*totals, strict=True)]


def offsets_of(lengths: Ints) -> Ints:
    """The first cell of each of consecutive runs of ``lengths`` cells."""
    return np.concatenate(([0], np.cumsum(lengths)[:-1])).astype(np.int64)


def _offsets(count: int) -> tuple[Ints, Ints]:
    """Each cohort's number of periods (cohort i: ``count - i``) and its first cell."""
    lengths = count - np.arange(count, dtype=np.int64)
    return lengths, offsets_of(lengths)


Table = tuple[str, dict[str, Any], list[dict[str, Any]]]  # label, initial fields, periods


class PooledTables(ABC):
    """The list and chart formats of a report held column by column: each form says
    only its rows (``tables``)."""

    @abstractmethod
    def tables(self) -> list[Table]:
        """``(cohort_group, initial fields, periods)`` per row, ``average`` last."""

    def as_list(self) -> dict[str, Any]:
        return {
            "list": [
                {"cohort_group": label, **initial, "periods": periods}
                for label, initial, periods in self.tables()
            ]
        }

    def as_chart(self) -> list[dict[str, Any]]:
        return chart_of([(label, periods) for label, _, periods in self.tables()])


@dataclass(frozen=True, eq=False)  # arrays: compared by identity
class TimeCells(PooledTables):
    """A report's time-based cohorts and their cells, as read from the triangle."""

    interval: Interval
    start: int  # the first cohort's period
    current: int
    date_is_last: bool  # ``as_of`` is the current period's last day: every cell complete
    initial_customers: list[int]  # per cohort
    initial_mrr: list[int]  # per cohort, 10⁻¹⁸ units
    customers: Ints  # per cell
    mrr: Words  # per cell
    gross: Words  # per cell

    @property
    def count(self) -> int:
        return self.current - self.start + 1

    def _layout(self) -> tuple[Ints, Ints, Ints]:
        """``lengths`` per cohort, and the cohort and period index of every cell."""
        lengths, offsets = _offsets(self.count)
        cohort = np.repeat(np.arange(self.count, dtype=np.int64), lengths)
        k = np.arange(len(cohort), dtype=np.int64) - offsets[cohort]
        return lengths, cohort, k

    # -- the output ----------------------------------------------------------------
    def labels(self) -> list[str]:
        return [
            last_day(p0, self.interval).isoformat() for p0 in range(self.start, self.current + 1)
        ]

    def tables(self) -> list[Table]:
        """``(cohort_group, initial fields, periods)`` per row, ``average`` last."""
        lengths, cohort, k = self._layout()
        cells = self._cells(lengths, cohort, k)
        rows: list[tuple[str, dict[str, Any], list[dict[str, Any]]]] = []
        offset = 0
        for label, n, b, length in zip(
            self.labels(), self.initial_customers, self.initial_mrr, lengths.tolist(), strict=True
        ):
            initial = {"initial_mrr": money(b), "initial_customers": n}
            rows.append((label, initial, cells[offset : offset + length]))
            offset += length
        rows.append((AVERAGE, {}, self._average()))
        return rows

    def rows(self) -> tuple[CohortRow, ...]:
        """The same report as ``report_model`` rows (exact series: for the curves)."""
        lengths, cohort, k = self._layout()
        complete = self._complete(lengths, cohort, k).tolist()
        customers = self.customers.tolist()
        series: list[CohortSeries] = []
        offset = 0
        for n, b, length in zip(
            self.initial_customers, self.initial_mrr, lengths.tolist(), strict=True
        ):
            cells = range(offset, offset + length)
            periods = tuple(
                PeriodValues(customers[j], self.mrr.exact(j), self.gross.exact(j), complete[j])
                for j in cells
            )
            series.append(CohortSeries(n, b, periods))
            offset += length
        rows = [CohortRow(label, (s,)) for label, s in zip(self.labels(), series, strict=True)]
        return (*rows, average_row(series))

    # -- the cells -----------------------------------------------------------------
    def _complete(self, lengths: Ints, cohort: Ints, k: Ints) -> npt.NDArray[np.bool_]:
        """Every cell but each cohort's last (the current period) unless ``as_of`` ends it."""
        if self.date_is_last:
            return np.ones(len(k), np.bool_)
        return k < lengths[cohort] - 1

    def _cells(self, lengths: Ints, cohort: Ints, k: Ints) -> list[dict[str, Any]]:
        n = np.asarray(self.initial_customers, np.int64)[cohort]
        b_exact = self.initial_mrr
        b = np.asarray([float(v) for v in b_exact], np.float64)[cohort]
        first = k == 0
        customers = self.customers
        previous_customers = np.where(first, n, np.roll(customers, 1))
        mrr, gross = self.mrr.approx(), self.gross.approx()
        previous_mrr = np.where(first, b, np.roll(mrr, 1))
        complete = self._complete(lengths, cohort, k)

        mrr_cents, near = _rounded(mrr / 1e16)
        gross_cents, near_gross = _rounded(gross / 1e16)
        near |= near_gross | (self.mrr.hi < 0) | (self.gross.hi < 0)
        near |= np.asarray([v < 0 for v in b_exact], np.bool_)[cohort]
        mrr_retention, mrr_churn, near_m = _float_percentages(mrr, b)
        gross_retention, _, near_g = _float_percentages(gross, b)
        mrr_relative, mrr_churn_relative, near_r = _float_percentages(mrr, previous_mrr)
        near |= near_m | near_g | near_r
        customer_retention, customer_churn = _int_percentages(customers, n)
        customer_relative, customer_churn_relative = _int_percentages(customers, previous_customers)
        cells = [
            {
                "mrr_retained": a,
                "customers_retained": c,
                "mrr_retention": mr,
                "customer_retention": cr,
                "mrr_retention_relative": mrr_rel,
                "customer_retention_relative": cr_rel,
                "mrr_churn": mc,
                "customer_churn": cc,
                "mrr_churn_relative": mc_rel,
                "customer_churn_relative": cc_rel,
                "complete": done,
                "mrr_retained_gross": g,
                "mrr_retention_gross": gr,
            }
            for a, c, mr, cr, mrr_rel, cr_rel, mc, cc, mc_rel, cc_rel, done, g, gr in zip(
                (mrr_cents / 100).tolist(),
                customers.tolist(),
                (mrr_retention / 100).tolist(),
                (customer_retention / 100).tolist(),
                (mrr_relative / 100).tolist(),
                (customer_relative / 100).tolist(),
                (mrr_churn / 100).tolist(),
                (customer_churn / 100).tolist(),
                (mrr_churn_relative / 100).tolist(),
                (customer_churn_relative / 100).tolist(),
                complete.tolist(),
                (gross_cents / 100).tolist(),
                (gross_retention / 100).tolist(),
                strict=True,
            )
        ]
        cohorts, ks = cohort.tolist(), k.tolist()
        for j in np.flatnonzero(near).tolist():  # exactly, as report_model does
            i = cohorts[j]
            first_cell = ks[j] == 0
            cells[j] = cell_fields(
                self.initial_customers[i],
                b_exact[i],
                int(customers[j]),
                self.mrr.exact(j),
                self.gross.exact(j),
                self.initial_customers[i] if first_cell else int(customers[j - 1]),
                b_exact[i] if first_cell else self.mrr.exact(j - 1),
                bool(complete[j]),
            )
        return cells

    def _average(self) -> list[dict[str, Any]]:
        """The ``average`` row: each period k pools the non-empty cohorts that reached it."""
        lengths, offsets = _offsets(self.count)
        nonempty = np.asarray(self.initial_customers, np.int64) != 0
        (found,) = pooled_periods(
            np.where(nonempty, 0, -1),
            lengths,
            offsets,
            self.initial_customers,
            self.initial_mrr,
            (self.customers, self.mrr, self.gross),
            groups=1,
            last_incomplete=not self.date_is_last,
        )
        return found


def pooled_periods(
    group: Ints,
    lengths: Ints,
    offsets: Ints,
    initial_customers: list[int],
    initial_mrr: list[int],
    cells: tuple[Ints, Words, Words],
    *,
    groups: int,
    last_incomplete: bool,
) -> list[list[dict[str, Any]]]:
    """The period fields of each pooled row ``0 .. groups - 1``.

    Sub-cohort i belongs to row ``group[i]`` (-1: to none), has ``lengths[i]`` periods,
    its cells from ``offsets[i]`` in ``cells`` (customers, MRR, gross per cell) and its
    initial values at i. A row's periods run to its longest sub-cohort's; cell k of a
    sub-cohort is incomplete iff ``last_incomplete`` and it is its last (the current
    period)."""
    customers, mrr, gross = cells
    member = group >= 0
    if not member.any():
        return [[] for _ in range(groups)]
    width = int(lengths[member].max())
    sub = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
    k = np.arange(len(sub), dtype=np.int64) - offsets[sub]
    inside = np.flatnonzero(member[sub])
    at = group[sub[inside]] * width + k[inside]
    bins = groups * width
    customers_at = np.zeros(bins, np.int64)
    np.add.at(customers_at, at, customers[inside])
    mrr_at = sums(mrr.take(inside), at, bins)
    gross_at = sums(gross.take(inside), at, bins)
    # each sub-cohort's value at k - 1, for the periods k it reached
    before = inside[k[inside] < lengths[sub[inside]] - 1]
    to = group[sub[before]] * width + k[before] + 1
    previous_customers = np.zeros(bins, np.int64)
    np.add.at(previous_customers, to, customers[before])
    previous_mrr = sums(mrr.take(before), to, bins)
    # a sub-cohort with L periods is in C_k for k < L: its initial values are added at
    # L - 1 and summed from the end; a cell k is incomplete where some sub-cohort ends
    n_end, b_end = [0] * bins, [0] * bins
    ends_at = [False] * bins
    count = [0] * groups
    for g, length, n, b in zip(
        group.tolist(), lengths.tolist(), initial_customers, initial_mrr, strict=True
    ):
        if g < 0:
            continue
        n_end[g * width + length - 1] += n
        b_end[g * width + length - 1] += b
        ends_at[g * width + length - 1] = True
        count[g] = max(count[g], length)
    customers_list, previous_list = customers_at.tolist(), previous_customers.tolist()
    found: list[list[dict[str, Any]]] = []
    for g in range(groups):
        n = b = 0
        fields: list[dict[str, Any]] = [{}] * count[g]
        for p in range(count[g] - 1, -1, -1):
            j = g * width + p
            n, b = n + n_end[j], b + b_end[j]
            fields[p] = cell_fields(
                n,
                b,
                customers_list[j],
                mrr_at[j],
                gross_at[j],
                previous_list[j] if p else n,
                previous_mrr[j] if p else b,
                not (last_incomplete and ends_at[j]),
            )
        found.append(fields)
    return found


def _rounded(values: Floats) -> tuple[Floats, npt.NDArray[np.bool_]]:
    """``floor(values + 1/2)`` and where that may differ from the exact value's."""
    floor = np.floor(values)
    fraction = values - floor
    near = np.abs(fraction - 0.5) <= _TOLERANCE * np.maximum(np.abs(values), 1.0)
    return floor + (fraction >= 0.5), near


def _float_percentages(part: Floats, whole: Floats) -> tuple[Floats, Floats, npt.NDArray[np.bool_]]:
    """Hundredths of a percent, rounded half away from zero, and 10000 minus them (the
    churn; the exact tie rule only matters at a tie, which is ``near``); 0 for a zero
    whole."""
    positive = whole > 0
    ratio = 10_000.0 * part / np.where(positive, whole, 1.0)
    rounded, near = _rounded(ratio)
    retention = np.where(positive, rounded, 0.0)
    churn = np.where(positive, 10_000.0 - rounded, 0.0)
    return retention, churn, near & positive


def _int_percentages(part: Ints, whole: Ints) -> tuple[Ints, Ints]:
    """``report_model.cell_fields``' customer percentages, exactly, in hundredths."""
    positive = whole > 0
    safe = np.where(positive, whole, 1)
    q, r = np.divmod(20_000 * part + safe, 2 * safe)
    churn = 10_000 - q + ((r == 0) & (part <= safe))
    return np.where(positive, q, 0), np.where(positive, churn, 0)


def words(column: pa.Array | pa.ChunkedArray) -> Words:
    """A ``decimal128(38, 18)`` column's words (nulls as 0), read from its buffer: each
    value little-endian two's complement, a low unsigned and a high signed word."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    count, offset = len(array), array.offset
    if count == array.null_count:
        return Words.zeros(count)
    raw = np.frombuffer(array.buffers()[1], dtype="<u8", count=2 * (offset + count))
    lo = raw[2 * offset :: 2].copy()
    hi = raw[2 * offset + 1 :: 2].view(np.int64).copy()
    if array.null_count:
        missing = ~np.asarray(array.is_valid().to_numpy(zero_copy_only=False), np.bool_)
        lo[missing] = 0
        hi[missing] = 0
    return Words(hi, lo)


def time_cells(
    result: pa.Table,
    scaled: dict[str, pa.Array],
    sizes: dict[int, int],
    *,
    interval: Interval,
    as_of: date,
    current: int,
) -> TimeCells:
    """The cells of ``result`` (the triangle of a report without breakdown: ``p0, p,
    customers`` as integers, ``scaled`` its money columns as ``decimal128(38, 18)``)
    for the cohorts of ``sizes`` (p0 → customers)."""
    start = min(sizes)
    count = current - start + 1
    lengths, offsets = _offsets(count)
    total = int(lengths.sum())
    p0 = ints(result.column("p0"))
    p = ints(result.column("p"))
    i = p0 - start
    inside = (i >= 0) & (i < count)
    k = p - p0
    lengths_of = lengths[np.clip(i, 0, count - 1)]
    cell = inside & (k >= 0) & (k < lengths_of)
    rows = np.flatnonzero(cell)
    customers, mrr, gross = placed(result, scaled, rows, offsets[i[rows]] + k[rows], total)
    initial_mrr = initial_values(scaled, np.where(inside, i, -1), count)
    return TimeCells(
        interval=interval,
        start=start,
        current=current,
        date_is_last=as_of == last_day(current, interval),
        initial_customers=[sizes.get(p, 0) for p in range(start, current + 1)],
        initial_mrr=initial_mrr,
        customers=customers,
        mrr=mrr,
        gross=gross,
    )


def placed(
    result: pa.Table, scaled: dict[str, pa.Array], rows: Ints, where: Ints, total: int
) -> tuple[Ints, Words, Words]:
    """The customers, MRR and gross of the triangle's ``rows``, put at cells ``where``
    of ``total`` cells (the others 0)."""
    customers = np.zeros(total, np.int64)
    found = result.column("customers")
    if not pa.types.is_null(found.type):
        customers[where] = ints(found)[rows]
    mrr, gross = Words.zeros(total), Words.zeros(total)
    for name, target in (("mrr", mrr), ("gross", gross)):
        target.put(where, words(scaled[name]).take(rows))
    return customers, mrr, gross


def initial_values(scaled: dict[str, pa.Array], cohort: Ints, count: int) -> list[int]:
    """Each of ``count`` cohorts' initial MRR (10⁻¹⁸ units, 0 when absent): the
    triangle's rows carry it once per cohort, on p = p0; ``cohort`` is each row's
    cohort number, -1 for a row of none."""
    found = [0] * count
    initial = scaled["initial"]
    valid = np.asarray(initial.is_valid().to_numpy(zero_copy_only=False), np.bool_)
    initial_words = words(initial)
    for r in np.flatnonzero(valid & (cohort >= 0)).tolist():
        found[int(cohort[r])] = initial_words.exact(r)
    return found


def ints(column: pa.Array | pa.ChunkedArray, *, missing: int = 0) -> Ints:
    """An integer column (a ``numeric`` one on PostgreSQL's raw cursor) as int64, nulls
    as ``missing``."""
    if column.type != pa.int64():
        column = column.cast(pa.int64())
    return np.asarray(column.fill_null(missing).to_numpy(zero_copy_only=False), np.int64)
