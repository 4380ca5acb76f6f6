"""A breakdown's pooled rows column by column (``engine.grouped_cells``) against the
obvious form (``tests.engine.cell_reference``: a ``PeriodValues`` per cell, pooled by
``report_model``).

Both read the same triangle rows: every field of every group row and of the
``average``, the chart, the rows handed to the curves and the groups' order (initial
MRR descending, then name) must be identical. Money sits on rounding ties and one
10⁻¹⁸ unit either side of them, as in ``test_time_cells``; sub-cohorts start in
different periods per group, so each group's C_k differs from the others'.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.engine.cell_reference import exact_rows, triangle_table
from tests.engine.test_time_cells import draw_cohort

from cohortd.engine.grouped_cells import grouped_cells
from cohortd.engine.periods import Interval, first_day, last_day, period_of
from cohortd.engine.report import _scaled_array
from cohortd.engine.report_model import as_chart, as_list
from cohortd.engine.retention import ReportQuery

START = period_of(date(2030, 1, 15), Interval.month)
GROUPS = ["DE", "US", "unknown", "JP"]


@st.composite
def breakdowns(
    draw: st.DrawFn,
) -> tuple[pa.Table, dict[tuple[str, int], int], date, int]:
    count = draw(st.integers(1, 6))
    current = START + count - 1
    as_of = last_day(current, Interval.month) - timedelta(days=draw(st.sampled_from([0, 0, 3])))
    as_of = max(as_of, first_day(current, Interval.month))
    groups = draw(st.lists(st.sampled_from(GROUPS), min_size=1, max_size=4, unique=True))
    sizes: dict[tuple[str, int], int] = {}
    for grp in groups:
        for p0 in range(START, current + 1):
            if draw(st.booleans()):
                sizes[(grp, p0)] = draw(st.sampled_from([1, 2, 3, 7, 40]))
        if not any(g == grp for g, _ in sizes):
            sizes[(grp, current - draw(st.integers(0, count - 1)))] = 5
    rows: dict[str, list] = {
        k: [] for k in ("grp", "p0", "p", "customers", "mrr", "gross", "initial")
    }
    for grp, p0 in sorted(sizes):
        before = len(rows["p0"])
        draw_cohort(draw, rows, p0, current)
        rows["grp"].extend([grp] * (len(rows["p0"]) - before))
    table = triangle_table(rows)
    return table, sizes, as_of, current


def _cells(table: pa.Table, sizes: dict[tuple[str, int], int], as_of: date, current: int):  # type: ignore[no-untyped-def]
    scaled = {name: _scaled_array(table, name) for name in ("mrr", "gross", "initial")}
    return grouped_cells(
        table,
        scaled,
        sizes,
        current=current,
        last_incomplete=as_of != last_day(current, Interval.month),
    )


@settings(max_examples=300, deadline=None)
@given(breakdowns())
def test_the_columns_give_the_pooled_rows_of_the_exact_form(
    case: tuple[pa.Table, dict[tuple[str, int], int], date, int],
) -> None:
    table, sizes, as_of, current = case
    query = ReportQuery(
        as_of=as_of, interval=Interval.month, base_currency="USD", breakdown="country"
    )
    assert query.current == current and query.grouped
    rows = exact_rows(table, sizes, query)
    cells = _cells(table, sizes, as_of, current)
    assert cells.as_list() == as_list(rows)
    assert cells.as_chart() == as_chart(rows)
    assert cells.rows() == tuple(rows)


def test_a_hand_worked_breakdown() -> None:
    """Two groups as of 2030-03-10 (March is the current period, incomplete).

    DE: a January sub-cohort (2 customers, initial 100.00) keeps 2, 1, 1 customers and
    100.00, 60.00, 50.00; a March one (1 customer, 40.00) keeps 1 and 40.00.
    US: a February sub-cohort (1 customer, 300.00) keeps 1, 1 and 300.00, 330.00.

    DE k = 0 pools both sub-cohorts: 3 customers, 140.00 of 140.00 (100 %), and March's
    cell is incomplete. k = 1 pools January only (March has not reached it): 1 of 2
    customers (50 %), 60.00 of 100.00 (60 %), relative to k = 0 of January alone:
    60.00 / 100.00. US has the larger initial MRR (300 > 140): it comes first. The
    average's k = 1 pools January DE and February US: 2 of 3 customers, 390.00 of
    400.00 = 97.5 %, relative (60 + 330) / (100 + 300) = 97.5 %.
    """
    start = START
    as_of = first_day(start + 2, Interval.month) + timedelta(days=9)
    d = Decimal
    table = pa.table(
        {
            "grp": ["DE", "DE", "DE", "DE", "US", "US"],
            "p0": [start, start, start, start + 2, start + 1, start + 1],
            "p": [start, start + 1, start + 2, start + 2, start + 1, start + 2],
            "customers": [2, 1, 1, 1, 1, 1],
            "mrr": pa.array([d(100), d(60), d(50), d(40), d(300), d(330)], pa.decimal128(38, 18)),
            "gross": pa.array([d(100), d(60), d(50), d(40), d(300), d(300)], pa.decimal128(38, 18)),
            "initial": pa.array([d(100), None, None, d(40), d(300), None], pa.decimal128(38, 18)),
        }
    )
    sizes = {("DE", start): 2, ("DE", start + 2): 1, ("US", start + 1): 1}
    found = _cells(table, sizes, as_of, start + 2).as_list()["list"]
    assert [row["cohort_group"] for row in found] == ["US", "DE", "average"]
    us, de, average = found
    assert (us["initial_customers"], us["initial_mrr"]) == (1, 300.0)
    assert (de["initial_customers"], de["initial_mrr"]) == (3, 140.0)
    assert [p["customers_retained"] for p in de["periods"]] == [3, 1, 1]
    assert [p["mrr_retained"] for p in de["periods"]] == [140.0, 60.0, 50.0]
    assert [p["complete"] for p in de["periods"]] == [False, True, False]
    assert de["periods"][1]["customer_retention"] == 50.0
    assert de["periods"][1]["mrr_retention"] == 60.0
    assert de["periods"][1]["mrr_retention_relative"] == 60.0
    assert de["periods"][2]["mrr_retention_relative"] == round(50 / 60 * 100, 2)
    assert [p["mrr_retained_gross"] for p in us["periods"]] == [300.0, 300.0]
    assert us["periods"][1]["mrr_retention"] == 110.0
    assert average["periods"][1]["customers_retained"] == 2
    assert average["periods"][1]["mrr_retained"] == 390.0
    assert average["periods"][1]["mrr_retention"] == 97.5
    assert average["periods"][1]["mrr_retention_relative"] == 97.5
    assert average["periods"][1]["customer_retention"] == round(200 / 3, 2)
    assert len(average["periods"]) == 3
