"""The movements of a whole scope by calendar month, from the kept sums (SPEC §8).

``engine.movements.cohort_movements`` computes any groups' movements from the segments:
every customer's ranges expanded over the periods and the changed (customer, period)
pairs classified. For the whole scope by month that is most of the work of a metrics
request and grows with the organization (1,000,000 customers: seconds). The same
figures are kept up to date at every write in ``cohort_deltas`` (``engine.derived``):

- the MRR levels per currency (``MONEY``) and the paying members (``COUNT``) change by
  month: their running sums are the levels on every month's last day;
- the members paying in one currency moved as the ``MOVES`` rows say: per month, kind
  and currency, how many and their s and e in minor units (in one currency the sign of
  e − s does not depend on the rate).

Only members billed in several currencies are classified per request (their sign of
e − s depends on the rates), from the months they moved in, kept per member with their
MRR per currency (``several_pairs``), as ``cohort_movements`` classifies its pairs. The
conversion and the figures derived from the sums are ``movements``' own (``assemble``),
so the answer is the same, to the last digit, as ``cohort_movements`` of the whole
scope (tests compare them on random data, live writes included). A current month, still
cut short at today, is not in the kept sums (they describe months' last days) and is
computed by ``cohort_movements``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any, Final

import ibis

from cohortd.engine import derived
from cohortd.engine.cohort_deltas import (
    CHURN,
    CONTRACTION,
    COUNT,
    EXPANSION,
    MONEY,
    MOVES,
    NEW,
    REACTIVATION,
    UNIT_MONTH,
)
from cohortd.engine.fx import RateBook
from cohortd.engine.movement_model import (
    WHOLE_SCOPE,
    Movement,
    MovementTable,
    Window,
    measuring_days,
)
from cohortd.engine.movements import (
    assemble,
    bound_rows,
    classified_sums,
    cohort_movements,
    factor_rows,
    running_sums,
)
from cohortd.engine.periods import Interval, first_day, last_day, period_of
from cohortd.warehouse import Scope, Warehouse, scoped
from cohortd.warehouse.tables import COHORT_DELTAS, SEVERAL_PAIRS

KIND_MOVEMENT: Final = {
    NEW: Movement.new,
    REACTIVATION: Movement.reactivation,
    EXPANSION: Movement.expansion,
    CONTRACTION: Movement.contraction,
    CHURN: Movement.churn,
}


def whole_scope_movements(
    warehouse: Warehouse,
    scope: Scope,
    *,
    periods: Sequence[Window],
    currency: str,
    fixed_rate_day: date | None = None,
) -> MovementTable:
    """``cohort_movements`` of every customer of ``scope`` (``members=None``), the same
    figures: from the kept sums when ``periods`` are calendar months, else (and for a
    last month cut short) from the segments."""

    def from_segments(chosen: Sequence[Window]) -> MovementTable:
        return cohort_movements(
            warehouse,
            scope,
            members=None,
            periods=chosen,
            currency=currency,
            fixed_rate_day=fixed_rate_day,
        )

    done = [w for w in periods if w.complete] if _calendar_months(periods) else []
    if not done:
        return from_segments(periods)
    kept = kept_movements(
        warehouse, scope, periods=done, currency=currency, fixed_rate_day=fixed_rate_day
    )
    if len(done) == len(periods):
        return kept
    cut = from_segments(periods[len(done) :])
    return MovementTable(
        windows=tuple(periods),
        groups={WHOLE_SCOPE: kept.series(WHOLE_SCOPE) + cut.series(WHOLE_SCOPE)},
    )


def _calendar_months(periods: Sequence[Window]) -> bool:
    for w in periods:
        p = period_of(w.start, Interval.month)
        if first_day(p, Interval.month) != w.start or last_day(p, Interval.month) != w.last:
            return False
    return bool(periods)


def kept_movements(
    warehouse: Warehouse,
    scope: Scope,
    *,
    periods: Sequence[Window],
    currency: str,
    fixed_rate_day: date | None = None,
) -> MovementTable:
    """The whole scope's movements over consecutive, complete calendar months, from
    ``cohort_deltas`` and ``several_pairs`` (members billed in several currencies).

    Raises ``ValueError`` for any other periods, ``fx.UnknownCurrency`` for a currency
    without rates."""
    if not _calendar_months(periods) or not all(w.complete for w in periods):
        raise ValueError("complete calendar months only")
    derived.catch_up(warehouse, scope)
    days = measuring_days(periods)
    n = len(periods)
    first = period_of(periods[0].start, Interval.month)
    levels, paying, moved = _kept_rows(warehouse, scope, first, n)
    rate_days = [fixed_rate_day or d for d in days]
    currencies = {str(r["currency"]) for r in levels}
    book = RateBook.load(
        warehouse, scope, {(c, d) for c in currencies | {currency} for d in rate_days}
    )
    factors = ibis.memtable(factor_rows(book, currencies, currency, rate_days))
    bounds = ibis.memtable(bound_rows(periods))
    several = scoped(warehouse, SEVERAL_PAIRS, scope)
    p = several.p.cast("int64")
    several = several.filter((p >= first) & (p <= first + n - 1))
    pairs = several.select(
        group_id=ibis.literal(WHOLE_SCOPE),
        customer_id=several.customer_id,
        i=p - (first - 1),
        currency=several.currency,
        s=several.s,
        e=several.e,
        paid_started_at=several.paid_started_at,
    )
    moved += warehouse.to_pyarrow(classified_sums(pairs, factors, bounds)).to_pylist()
    return assemble(periods, rate_days, currency, book, levels, paying, moved)


def _kept_rows(
    warehouse: Warehouse, scope: Scope, first: int, n: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """``cohort_deltas``' monthly rows as ``movements``' level, count and moved rows:
    measuring day j of month ``first + j − 1`` (j = 0: every earlier month)."""
    table = scoped(warehouse, COHORT_DELTAS, scope)
    last = first + n - 1
    p = table.p.cast("int64")
    levels_or_counts = table.kind.isin([COUNT, MONEY])
    moves = table.kind.isin(list(MOVES)) & (p >= first)
    chosen = table.filter((table.unit == UNIT_MONTH) & (p <= last) & (levels_or_counts | moves))
    j = ibis.greatest(chosen.p.cast("int64") - first + 1, ibis.literal(0, "int64"))
    summed = chosen.group_by(kind=chosen.kind.cast("int64"), currency=chosen.currency, j=j).agg(
        n=chosen.n.sum().cast("int64"),
        v=chosen.v.sum().cast("int64"),
        m=chosen.m.sum().cast("int64"),
    )
    levels: list[dict[str, Any]] = []
    paying: list[dict[str, Any]] = []
    moved: list[dict[str, Any]] = []
    for row in warehouse.to_pyarrow(summed).to_pylist():
        kind, j_ = int(row["kind"]), int(row["j"])
        if kind == MONEY:
            levels.append(
                {"group_id": WHOLE_SCOPE, "j": j_, "currency": row["currency"], "v": row["v"]}
            )
        elif kind == COUNT:
            paying.append({"group_id": WHOLE_SCOPE, "j": j_, "k": row["n"]})
        else:
            moved.append(
                {
                    "group_id": WHOLE_SCOPE,
                    "i": j_,
                    "movement": KIND_MOVEMENT[kind].value,
                    "currency": row["currency"],
                    "s": row["v"],
                    "e": row["m"],
                    "members": row["n"],
                }
            )
    return _paying_currencies(levels, n), paying, moved


def _paying_currencies(levels: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    """The level rows of the currencies somebody pays in on one of the measuring days
    (a currency whose changes net to 0 throughout is left out, as the segments' ranges
    covering none of the days are; it may have no rate then)."""
    live = {currency for (_, currency), sums in running_sums(levels, "v", n).items() if any(sums)}
    return [row for row in levels if str(row["currency"]) in live]
