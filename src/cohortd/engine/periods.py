"""Report intervals as integer period numbers (SPEC §2 "Periods").

Every period of an interval has one integer number, consecutive periods consecutive
numbers, so "P0 + k" is plain addition and a date range becomes an integer range:

- week (ISO, Monday first): days since the Monday 1970-01-05, floor-divided by 7;
- month: ``year * 12 + month - 1``;
- quarter (calendar): ``year * 4 + (month - 1) // 3``;
- year: the year.

``day`` is served as ``week`` (``Interval.parse``). Each number maps back to its first
and last calendar day (Python), and ``period_of`` builds the number as an Ibis
expression, so SQL and Python agree by construction.
"""

from __future__ import annotations

from datetime import date, timedelta
from enum import StrEnum
from typing import Final, assert_never

import ibis.expr.types as ir

WEEK_EPOCH: Final = date(1970, 1, 5)  # a Monday: week numbers count from it
_WEEK_EPOCH_DAYS: Final = (WEEK_EPOCH - date(1970, 1, 1)).days


class Interval(StrEnum):
    """The report's period length."""

    week = "week"
    month = "month"
    quarter = "quarter"
    year = "year"

    @classmethod
    def parse(cls, value: str) -> Interval:
        """The interval named ``value`` (case-insensitive); ``day`` is served as ``week``.

        Raises ``ValueError`` for anything else.
        """
        name = value.strip().lower()
        if name == "day":
            return cls.week
        return cls(name)


def _months_per_period(interval: Interval) -> int:
    match interval:
        case Interval.month:
            return 1
        case Interval.quarter:
            return 3
        case Interval.year:
            return 12
        case Interval.week:
            raise ValueError("weeks are not made of months")
        case _:
            assert_never(interval)


def period_of(day: date, interval: Interval) -> int:
    """The number of the period holding ``day``."""
    if interval is Interval.week:
        return (day - WEEK_EPOCH).days // 7
    months = day.year * 12 + day.month - 1
    return months // _months_per_period(interval)


def first_day(period: int, interval: Interval) -> date:
    """The first calendar day of period number ``period``."""
    if interval is Interval.week:
        return WEEK_EPOCH + timedelta(days=7 * period)
    months = period * _months_per_period(interval)
    return date(months // 12, months % 12 + 1, 1)


def last_day(period: int, interval: Interval) -> date:
    """The last calendar day of period number ``period``."""
    try:
        return first_day(period + 1, interval) - timedelta(days=1)
    except (ValueError, OverflowError):
        return date.max  # the period holding 9999-12-31 ends with the calendar


def evaluation_day(period: int, *, as_of: date, interval: Interval) -> date:
    """``min(last day of period, as_of)``: the day a period's values are measured on."""
    return min(last_day(period, interval), as_of)


def period_of_expr(day: ir.DateValue, interval: Interval) -> ir.IntegerValue:
    """``period_of`` as an Ibis expression (DuckDB and PostgreSQL alike)."""
    match interval:
        case Interval.week:
            # floor division: days before the epoch land in negative weeks, like Python's //
            return ((day.epoch_days() - _WEEK_EPOCH_DAYS) / 7).floor().cast("int64")
        case Interval.month:
            return (day.year() * 12 + day.month() - 1).cast("int64")
        case Interval.quarter:
            return (day.year() * 4 + (day.month() - 1) // 3).cast("int64")
        case Interval.year:
            return day.year().cast("int64")
        case _:
            assert_never(interval)


# The derived tables (``engine.derived``) store the week and month numbers of their days,
# computed once at import: ``week_<day>`` and ``month_<day>`` for ``<day>`` in ``0`` (the
# paid start), ``start`` and ``end``. Quarters and years follow from months by integer
# division (``month // 3``, ``month // 12``: month numbers are positive, so truncating
# and flooring agree on every backend).
STORED_DAYS: Final = {"0": "paid_started_at", "start": "start_date", "end": "end_date"}


def stored_period_columns(table: ir.Table, days: tuple[str, ...]) -> dict[str, ir.IntegerValue]:
    """The stored period columns of ``days`` (keys of ``STORED_DAYS``) computed from
    ``table``'s date columns: what ``engine.derived`` writes."""
    columns: dict[str, ir.IntegerValue] = {}
    for day in days:
        value = table[STORED_DAYS[day]]
        columns[_stored_name(Interval.week, day)] = period_of_expr(value, Interval.week).cast(
            "int32"
        )
        columns[_stored_name(Interval.month, day)] = period_of_expr(value, Interval.month).cast(
            "int32"
        )
    return columns


def _stored_name(interval: Interval, day: str) -> str:
    kind = "week" if interval is Interval.week else "month"
    return f"{kind}{day}" if day == "0" else f"{kind}_{day}"


def stored_period(table: ir.Table, day: str, interval: Interval) -> ir.IntegerValue:
    """The period number of ``table``'s stored ``day`` (``"0"``, ``"start"``, ``"end"``) in
    ``interval``, read from the derived tables' integer columns (null where the day is)."""
    column = table[_stored_name(interval, day)].cast("int64")
    if interval in (Interval.week, Interval.month):
        return column
    return column // _months_per_period(interval)
