"""Period numbers: ISO weeks, calendar months, quarters, years (SPEC §2 "Periods")."""

from __future__ import annotations

from datetime import date, timedelta

import ibis
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.conftest import ENGINE_BACKENDS

from cohortd.engine.periods import (
    Interval,
    evaluation_day,
    first_day,
    last_day,
    period_of,
    period_of_expr,
)
from cohortd.warehouse import Warehouse


@pytest.fixture(params=ENGINE_BACKENDS)
def warehouse(request: pytest.FixtureRequest) -> Warehouse:
    """DuckDB, PostgreSQL and Spark."""
    return request.getfixturevalue(f"{request.param}_warehouse")


@pytest.mark.parametrize(
    ("day", "interval", "first", "last"),
    [
        # 2020-12-31 is a Thursday of ISO week 2020-W53: Monday 12-28 .. Sunday 2021-01-03
        (date(2020, 12, 31), Interval.week, date(2020, 12, 28), date(2021, 1, 3)),
        # 2021-01-03 (Sunday) is still in 2020-W53; 2021-01-04 opens 2021-W01
        (date(2021, 1, 3), Interval.week, date(2020, 12, 28), date(2021, 1, 3)),
        (date(2021, 1, 4), Interval.week, date(2021, 1, 4), date(2021, 1, 10)),
        # a week across a year end: 2024-12-30 (Mon) .. 2025-01-05 (Sun)
        (date(2025, 1, 1), Interval.week, date(2024, 12, 30), date(2025, 1, 5)),
        (date(2024, 2, 10), Interval.month, date(2024, 2, 1), date(2024, 2, 29)),
        (date(2023, 2, 28), Interval.month, date(2023, 2, 1), date(2023, 2, 28)),
        (date(2025, 8, 1), Interval.quarter, date(2025, 7, 1), date(2025, 9, 30)),
        (date(2025, 3, 31), Interval.quarter, date(2025, 1, 1), date(2025, 3, 31)),
        (date(2025, 10, 31), Interval.year, date(2025, 1, 1), date(2025, 12, 31)),
    ],
)
def test_period_bounds(day: date, interval: Interval, first: date, last: date) -> None:
    number = period_of(day, interval)
    assert (first_day(number, interval), last_day(number, interval)) == (first, last)


def test_numbers_are_consecutive() -> None:
    # month = year*12 + month - 1: December 2024 and January 2025 are neighbours
    assert (
        period_of(date(2025, 1, 1), Interval.month) - period_of(date(2024, 12, 31), Interval.month)
        == 1
    )
    assert period_of(date(2025, 1, 1), Interval.month) == 2025 * 12
    assert period_of(date(2025, 7, 1), Interval.quarter) == 2025 * 4 + 2
    # the week epoch 1970-01-05 is week 0, the day before is week -1
    assert period_of(date(1970, 1, 5), Interval.week) == 0
    assert period_of(date(1970, 1, 4), Interval.week) == -1


def test_weekly_cohort_group_is_the_sunday() -> None:
    for offset in range(14):
        day = date(2021, 9, 13) + timedelta(days=offset)
        assert last_day(period_of(day, Interval.week), Interval.week).isoweekday() == 7


def test_the_last_period_of_the_calendar_ends_on_its_last_day() -> None:
    for interval in Interval:
        assert last_day(period_of(date.max, interval), interval) == date.max


def test_day_is_served_as_week_and_unknown_raises() -> None:
    assert Interval.parse("day") is Interval.week
    assert Interval.parse("Month") is Interval.month
    with pytest.raises(ValueError):
        Interval.parse("fortnight")


def test_evaluation_day_is_capped_at_as_of() -> None:
    june = period_of(date(2025, 6, 15), Interval.month)
    assert evaluation_day(june, as_of=date(2025, 6, 15), interval=Interval.month) == date(
        2025, 6, 15
    )
    assert evaluation_day(june - 1, as_of=date(2025, 6, 15), interval=Interval.month) == date(
        2025, 5, 31
    )


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 12, 31)))
@settings(max_examples=200, deadline=None)
def test_every_day_lies_in_its_period(day: date) -> None:
    for interval in Interval:
        number = period_of(day, interval)
        assert first_day(number, interval) <= day <= last_day(number, interval)
        assert period_of(first_day(number + 1, interval), interval) == number + 1


def test_sql_matches_python(warehouse: Warehouse) -> None:
    days = [date(1969, 12, 29), date(1970, 1, 4), date(2020, 12, 31), date(2021, 1, 4)]
    days += [date(2024, 2, 29), date(2025, 12, 31), date(2026, 1, 1)]
    table = ibis.memtable({"day": days})
    for interval in Interval:
        expr = table.select(table.day, p=period_of_expr(table.day, interval)).order_by("day")
        got = warehouse.to_pyarrow(expr).column("p").to_pylist()
        assert got == [period_of(d, interval) for d in sorted(days)], interval
