"""The column-by-column cells (``engine.time_cells``) against the cell-by-cell form.

Both read the same triangle rows; every field of every cell, the ``average`` row, the
chart and the rows handed to the curves must be identical. The money values are drawn
to sit on rounding ties (x.xx5, and percentages of exactly x.xx5 %) and one 10⁻¹⁸ unit
either side of them, where the doubles alone would decide wrongly.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.engine.cell_reference import exact_rows, triangle_table

from cohortd.engine.periods import Interval, first_day, last_day, period_of
from cohortd.engine.report import _scaled_array
from cohortd.engine.report_model import as_chart, as_list
from cohortd.engine.retention import NO_GROUP, ReportQuery
from cohortd.engine.time_cells import Words, sums, time_cells

SCALE = 10**18
START = period_of(date(2030, 1, 15), Interval.month)


@st.composite
def amounts(draw: st.DrawFn, initial: int) -> int | None:
    """A cell's money in 10⁻¹⁸ units: random, an exact tie or one unit off one."""
    kind = draw(st.sampled_from(["random", "cents tie", "percent tie", "zero", "none"]))
    nudge = draw(st.sampled_from([-1, 0, 0, 1]))
    if kind == "none":
        return None
    if kind == "zero":
        return 0
    if kind == "cents tie":  # x.xx5 of the base currency
        value = draw(st.integers(0, 10**9)) * 10**16 + 5 * 10**15
    elif kind == "percent tie" and initial:  # (2j + 1) / 20000 of the initial, if exact
        j = draw(st.integers(0, 40_000))
        value = initial * (2 * j + 1) // 20_000
    else:
        value = draw(st.integers(0, 10**26))
    return max(value + nudge, 0)


def draw_cohort(draw: st.DrawFn, rows: dict[str, list], p0: int, current: int) -> None:  # type: ignore[type-arg]
    """Append one cohort's random rows (some periods missing) to ``rows``."""
    initial = draw(st.sampled_from([0, 2 * SCALE, 4 * SCALE, 20_000 * SCALE, 3 * 10**22]))
    for p in range(p0, current + 1):
        if not draw(st.booleans()):
            continue
        rows["p0"].append(p0)
        rows["p"].append(p)
        rows["customers"].append(draw(st.one_of(st.none(), st.integers(0, 50))))
        rows["mrr"].append(draw(amounts(initial)))
        rows["gross"].append(draw(amounts(initial)))
        rows["initial"].append(initial if p == p0 and draw(st.booleans()) else None)


@st.composite
def triangles(draw: st.DrawFn) -> tuple[pa.Table, dict[int, int], date, int]:
    count = draw(st.integers(1, 6))
    current = START + count - 1
    as_of = last_day(current, Interval.month) - timedelta(days=draw(st.sampled_from([0, 0, 3])))
    as_of = max(as_of, first_day(current, Interval.month))
    sizes = {
        START + i: n
        for i in range(count)
        if (n := draw(st.sampled_from([0, 1, 2, 3, 7, 40]))) or i == 0
    }
    sizes[START] = sizes.get(START) or 4  # the first cohort has customers
    rows: dict[str, list] = {k: [] for k in ("p0", "p", "customers", "mrr", "gross", "initial")}
    for p0 in range(START, current + 1):
        draw_cohort(draw, rows, p0, current)
    table = triangle_table(rows)
    return table, {p0: n for p0, n in sizes.items() if n}, as_of, current


@settings(max_examples=300, deadline=None)
@given(triangles())
def test_the_columns_give_the_cells_of_the_exact_form(
    case: tuple[pa.Table, dict[int, int], date, int],
) -> None:
    table, sizes, as_of, current = case
    query = ReportQuery(as_of=as_of, interval=Interval.month, base_currency="USD")
    assert query.current == current
    rows = exact_rows(table, {(NO_GROUP, p0): n for p0, n in sizes.items()}, query)
    scaled = {name: _scaled_array(table, name) for name in ("mrr", "gross", "initial")}
    cells = time_cells(table, scaled, sizes, interval=Interval.month, as_of=as_of, current=current)
    assert cells.as_list() == as_list(rows)
    assert cells.as_chart() == as_chart(rows)
    assert cells.rows() == tuple(rows)


def test_a_value_one_unit_under_a_tie_is_not_rounded_up() -> None:
    """A double cannot tell x.xx5 from x.xx5 − 10⁻¹⁸: the exact form decides."""
    tie = 12_345 * 10**16 + 5 * 10**15  # 123.455
    table = pa.table(
        {
            "grp": pa.array([NO_GROUP, NO_GROUP], pa.string()),
            "p0": pa.array([START, START], pa.int64()),
            "p": pa.array([START, START + 1], pa.int64()),
            "customers": pa.array([1, 1], pa.int64()),
            "mrr": pa.array([Decimal(tie).scaleb(-18), Decimal(tie - 1).scaleb(-18)]),
            "gross": pa.array([Decimal(0), Decimal(0)]),
            "initial": pa.array([Decimal(200), None]),
        }
    )
    scaled = {name: _scaled_array(table, name) for name in ("mrr", "gross", "initial")}
    current = START + 1
    cells = time_cells(
        table,
        scaled,
        {START: 1, current: 0},
        interval=Interval.month,
        as_of=last_day(current, Interval.month),
        current=current,
    )
    periods = cells.as_list()["list"][0]["periods"]
    assert [p["mrr_retained"] for p in periods] == [123.46, 123.45]


def test_exact_sums_of_words_carry_across_the_limbs() -> None:
    values = [2**64 - 1, 2**64 - 1, 2**100 + 3, -(2**70), 5]
    words = Words(
        pa.array([v >> 64 for v in values], pa.int64()).to_numpy(),
        pa.array([v & (2**64 - 1) for v in values], pa.uint64()).to_numpy(),
    )
    bins = pa.array([0, 0, 1, 1, 2], pa.int64()).to_numpy()
    assert sums(words, bins, 4) == [2**65 - 2, 2**100 + 3 - 2**70, 5, 0]
