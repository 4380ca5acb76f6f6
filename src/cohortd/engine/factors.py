"""The report's conversion factors: minor units of a currency to major units of the base
currency, per (currency, period) and per (currency, paid start day), computed exactly in
Python and rounded up to ``FACTOR_SCALE`` places (``engine.triangle``'s "Money" says
why up), and how the triangle's blocks join them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_CEILING, Decimal
from functools import lru_cache
from typing import Any, Final

import ibis.expr.datatypes as dt
import ibis.expr.types as ir
import pyarrow as pa

from cohortd.engine.fx import RateBook
from cohortd.engine.periods import (
    evaluation_day,
    first_day,
)
from cohortd.engine.retention import ReportQuery

FACTOR_SCALE: Final = 18
FACTOR_TYPE: Final = dt.Decimal(precision=38, scale=FACTOR_SCALE)
_QUANTUM: Final = Decimal(1).scaleb(-FACTOR_SCALE)


@dataclass(frozen=True)
class Factors:
    """Rows of the two factor tables, exact decimals quantized to ``FACTOR_SCALE``."""

    by_period: pa.Table  # currency, p, f (evaluation day of p), f_first (first day of p), fd
    by_day: pa.Table  # currency, day, f, fd
    # fd: f as a double, for ``classified``'s margin tests (casting decimals in SQL is slow)


@lru_cache(maxsize=1 << 16)
def _quantized(value: Decimal) -> Decimal:
    """``value`` rounded up to ``FACTOR_SCALE`` places (the module's "Money"; remembered:
    the same factors recur on every report of the same days)."""
    return value.quantize(_QUANTUM, rounding=ROUND_CEILING)


def factors(
    book: RateBook,
    query: ReportQuery,
    currencies: Iterable[str],
    start_pairs: Iterable[tuple[str, date]],
    first_period: int,
) -> Factors:
    """The factor tables; only the columns the query reads are filled (``f`` without
    ``fix_fx``, ``f_first`` with it; ``by_day`` only without), the others are null."""
    base, interval = query.base_currency, query.interval
    periods = range(first_period, query.current + 1)
    rows: dict[str, list[Any]] = {"currency": [], "p": [], "f": [], "f_first": [], "fd": []}
    cache: dict[tuple[str, date], Decimal] = {}

    def factor(currency: str, day: date) -> Decimal:
        found = cache.get((currency, day))
        if found is None:
            found = cache[(currency, day)] = _quantized(book.minor_factor(currency, base, day))
        return found

    for currency in sorted(set(currencies)):
        for p in periods:
            rows["currency"].append(currency)
            rows["p"].append(p)
            if query.fix_fx:
                rows["f"].append(None)
                rows["f_first"].append(factor(currency, first_day(p, interval)))
            else:
                day = evaluation_day(p, as_of=query.as_of, interval=interval)
                rows["f"].append(factor(currency, day))
                rows["f_first"].append(None)
            found = rows["f"][-1]
            rows["fd"].append(None if found is None else float(found))
    days: dict[str, list[Any]] = {"currency": [], "day": [], "f": [], "fd": []}
    for currency, day in sorted(set(start_pairs) if not query.fix_fx else ()):
        days["currency"].append(currency)
        days["day"].append(day)
        days["f"].append(factor(currency, day))
        days["fd"].append(float(days["f"][-1]))
    decimal = pa.decimal128(38, FACTOR_SCALE)
    return Factors(
        by_period=pa.table(
            {
                "currency": pa.array(rows["currency"], pa.string()),
                "p": pa.array(rows["p"], pa.int64()),
                "f": pa.array(rows["f"], decimal),
                "f_first": pa.array(rows["f_first"], decimal),
                "fd": pa.array(rows["fd"], pa.float64()),
            }
        ),
        by_day=pa.table(
            {
                "currency": pa.array(days["currency"], pa.string()),
                "day": pa.array(days["day"], pa.date32()),
                "f": pa.array(days["f"], decimal),
                "fd": pa.array(days["fd"], pa.float64()),
            }
        ),
    )


def rate_days(
    query: ReportQuery, first_period: int, start_pairs: Iterable[tuple[str, date]]
) -> set[date]:
    """Every day a rate is needed on."""
    interval = query.interval
    periods = range(first_period, query.current + 1)
    if query.fix_fx:  # every amount of a cohort at the first day of its period
        return {first_day(p, interval) for p in periods}
    days = {d for _, d in start_pairs}
    days.update(evaluation_day(p, as_of=query.as_of, interval=interval) for p in periods)
    return days


def with_factors(
    table: ir.Table, by_period: ir.Table, by_day: ir.Table, query: ReportQuery, *, day: str | None
) -> ir.Table:
    """``table`` plus ``f`` (the factor of its currency for period ``p``) and ``f0`` (the
    initial MRR's factor: on ``table[day]``, or the first day of ``p0`` with ``fix_fx``).

    Rows whose currency has no factor (the count rows) keep null factors."""
    if query.fix_fx:
        # every amount of a cohort at the rate of the first day of its p0
        at_p0 = by_period.select(currency="currency", p0="p", f="f_first")
        joined = table.left_join(at_p0, [table.currency == at_p0.currency, table.p0 == at_p0.p0])
        return joined.select(*table.columns, f=joined.f, f0=joined.f)
    periods = by_period.select("currency", "p", "f")
    joined = table.left_join(periods, [table.currency == periods.currency, table.p == periods.p])
    with_f = joined.select(*table.columns, f=joined.f)
    if day is None:
        return with_f
    days = by_day.select("currency", "day", f0="f")
    joined = with_f.left_join(days, [with_f.currency == days.currency, with_f[day] == days.day])
    return joined.select(*with_f.columns, f0=joined.f0)
