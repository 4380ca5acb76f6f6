"""A report with ``breakdown``, column by column: one pooled row per group.

Each group pools its time-based sub-cohorts (a customer is aligned on its own cohort
period) as the ``average`` row pools cohorts: ``time_cells.pooled_periods``, the one
implementation of SPEC §2's pooling over C_k, computes every group's sums at once from
the cells laid out flat (sub-cohort i's periods from ``offsets[i]``), then
``report_model.cell_fields`` once per pooled cell. A breakdown by country at 100,000
customers pools 58,000 cells into 1,800 this way, where building a ``PeriodValues`` per
cell and pooling them in Python took most of its time. ``report_model``'s rows remain
the obvious form (the curves read them; ``tests/engine/test_grouped_cells.py`` checks
both forms give the same report).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cohortd.engine.report_model import (
    AVERAGE,
    CohortRow,
    CohortSeries,
    PeriodValues,
    average_row,
    money,
)
from cohortd.engine.time_cells import (
    Ints,
    PooledTables,
    Table,
    Words,
    initial_values,
    ints,
    offsets_of,
    placed,
    pooled_periods,
)


@dataclass(frozen=True, eq=False)  # arrays: compared by identity
class GroupedCells(PooledTables):
    """A breakdown's sub-cohorts (sorted by group, then period) and their cells."""

    groups: list[str]  # in the report's order: initial MRR descending, then name
    group: Ints  # per sub-cohort: its group's index in ``groups``
    lengths: Ints  # per sub-cohort
    offsets: Ints
    initial_customers: list[int]
    initial_mrr: list[int]  # 10⁻¹⁸ units
    customers: Ints  # per cell
    mrr: Words
    gross: Words
    last_incomplete: bool

    def tables(self) -> list[Table]:
        """``(cohort_group, initial fields, periods)`` per group, ``average`` last (it
        pools the non-empty sub-cohorts of every group)."""
        nonempty = np.asarray(self.initial_customers, np.int64) != 0
        rows, (average,) = (
            pooled_periods(
                group,
                self.lengths,
                self.offsets,
                self.initial_customers,
                self.initial_mrr,
                (self.customers, self.mrr, self.gross),
                groups=groups,
                last_incomplete=self.last_incomplete,
            )
            for group, groups in ((self.group, len(self.groups)), (np.where(nonempty, 0, -1), 1))
        )
        n = [0] * len(self.groups)
        b = [0] * len(self.groups)
        for g, customers, mrr in zip(
            self.group.tolist(), self.initial_customers, self.initial_mrr, strict=True
        ):
            n[g] += customers
            b[g] += mrr
        found = [
            (name, {"initial_mrr": money(b[g]), "initial_customers": n[g]}, rows[g])
            for g, name in enumerate(self.groups)
        ]
        return [*found, (AVERAGE, {}, average)]

    def rows(self) -> tuple[CohortRow, ...]:
        """The same report as ``report_model`` rows (exact series: for the curves)."""
        customers = self.customers.tolist()
        by_group: list[list[CohortSeries]] = [[] for _ in self.groups]
        every: list[CohortSeries] = []  # in the sub-cohorts' order: group name, period
        for i, (g, length, offset) in enumerate(
            zip(self.group.tolist(), self.lengths.tolist(), self.offsets.tolist(), strict=True)
        ):
            periods = tuple(
                PeriodValues(
                    customers[j],
                    self.mrr.exact(j),
                    self.gross.exact(j),
                    not (self.last_incomplete and j == offset + length - 1),
                )
                for j in range(offset, offset + length)
            )
            every.append(CohortSeries(self.initial_customers[i], self.initial_mrr[i], periods))
            by_group[g].append(every[-1])
        rows = [CohortRow(name, tuple(s)) for name, s in zip(self.groups, by_group, strict=True)]
        return (*rows, average_row(every))


def grouped_cells(
    result: pa.Table,
    scaled: dict[str, pa.Array],
    sizes: dict[tuple[str, int], int],
    *,
    current: int,
    last_incomplete: bool,
) -> GroupedCells:
    """The cells of ``result`` (a breakdown's triangle: ``grp, p0, p, customers`` and
    ``scaled`` its money columns as ``decimal128(38, 18)``) for the sub-cohorts of
    ``sizes`` ((group, p0) → customers, none of them empty)."""
    subs = sorted(sizes)
    names = sorted({grp for grp, _ in subs})
    initial_customers = [sizes[s] for s in subs]
    lengths = np.asarray([current - p0 + 1 for _, p0 in subs], np.int64)
    offsets = offsets_of(lengths)
    total = int(lengths.sum())
    # each result row's sub-cohort: a (group, p0) matrix of sub-cohort numbers
    start = min(p0 for _, p0 in subs)
    width = current - start + 1
    index = np.full(len(names) * width, -1, np.int64)
    name_of = {name: i for i, name in enumerate(names)}
    sub_group = np.asarray([name_of[grp] for grp, _ in subs], np.int64)
    sub_p0 = np.asarray([p0 for _, p0 in subs], np.int64)
    index[sub_group * width + (sub_p0 - start)] = np.arange(len(subs), dtype=np.int64)
    found = pc.index_in(result.column("grp"), value_set=pa.array(names, pa.string()))
    g = ints(found, missing=-1)
    p0, p = ints(result.column("p0")), ints(result.column("p"))
    known = (g >= 0) & (p0 >= start) & (p0 <= current)
    sub = np.where(known, index[np.where(known, g * width + (p0 - start), 0)], -1)
    k = p - p0
    valid = sub >= 0
    cell = valid & (k >= 0) & (k < np.where(valid, lengths[np.maximum(sub, 0)], 0))
    rows = np.flatnonzero(cell)
    customers, mrr, gross = placed(result, scaled, rows, offsets[sub[rows]] + k[rows], total)
    initial_mrr = initial_values(scaled, sub, len(subs))
    # the rows' order: initial MRR descending, then name
    b = [0] * len(names)
    for i, grp in enumerate(sub_group.tolist()):
        b[grp] += initial_mrr[i]
    order = sorted(range(len(names)), key=lambda i: (-b[i], names[i]))
    rank = np.empty(len(names), np.int64)
    rank[np.asarray(order, np.int64)] = np.arange(len(names), dtype=np.int64)
    return GroupedCells(
        groups=[names[i] for i in order],
        group=rank[sub_group],
        lengths=lengths,
        offsets=offsets,
        initial_customers=initial_customers,
        initial_mrr=initial_mrr,
        customers=customers,
        mrr=mrr,
        gross=gross,
        last_incomplete=last_incomplete,
    )
