"""The triangle of a whole scope (no filter, breakdown or cohort restriction) from the
sums kept at every write (``cohort_deltas``, ``engine.derived``): counts, MRR, initial
MRR and most of the gross from those few rows; the segments are read only for the
current period's corrections, the gross that depends on the report's rates and members
in several currencies (docs/reports.md, "Sums kept for the whole scope")."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import ibis
import ibis.expr.types as ir

from cohortd.engine.cohort_deltas import ABOVE, COUNT, INITIAL, MONEY, UNIT_MONTH, UNIT_WEEK
from cohortd.engine.cohort_deltas import TRACK as KEPT_TRACK
from cohortd.engine.factors import FACTOR_TYPE, with_factors
from cohortd.engine.periods import (
    Interval,
    stored_period,
)
from cohortd.engine.retention import Filters, ReportQuery
from cohortd.engine.triangle_blocks import (
    AMBIGUOUS,
    KEY_TYPES,
    OVER,
    UNDER,
    ambiguous_part,
    capped_from_changes,
    classified,
    dense_levels,
    initial_part,
    ranged_periods,
    restricted,
    result_of,
    result_part,
    several_part,
    sum_per_period,
    union_all,
)
from cohortd.warehouse import Scope, Warehouse, scoped
from cohortd.warehouse.tables import (
    COHORT_DELTAS,
    MRR_SEGMENTS,
    PAID_SPELLS,
)


# -- the whole scope: the summed changes kept at import ------------------------------------
def whole_scope(query: ReportQuery) -> bool:
    """No filter, breakdown or cohort restriction: ``triangle`` starts from
    ``cohort_deltas`` (``engine.derived``) instead of the segments."""
    return query.members is None and not query.grouped and query.filters == Filters()


def scope_deltas(
    warehouse: Warehouse, scope: Scope, query: ReportQuery, *, upto_current: bool = True
) -> ir.Table:
    """The scope's ``cohort_deltas`` in the query's periods (``p0``, ``p`` as int64; a
    quarter or a year is its months' rows, divided), changes after ``current`` dropped
    unless ``upto_current`` is false."""
    table = scoped(warehouse, COHORT_DELTAS, scope)
    week = query.interval is Interval.week
    table = table.filter(table.unit == (UNIT_WEEK if week else UNIT_MONTH))
    per = {Interval.quarter: 3, Interval.year: 12}.get(query.interval, 1)
    p0, p = table.p0.cast("int64"), table.p.cast("int64")
    mapped = table.mutate(p0=p0 // per, p=p // per) if per > 1 else table.mutate(p0=p0, p=p)
    return mapped.filter(mapped.p <= query.current) if upto_current else mapped


Shape = Callable[[ir.Table], ir.Value]
_MOVED_COLUMNS: Final = (
    "grp",
    "p0",
    "currency",
    "paid_started_at",
    "level_minor",
    "initial_minor",
    "pay_currency",
    "start_date",
    "end_date",
    "week_start",
    "month_start",
    "week_end",
    "month_end",
)


def _at_current(
    table: ir.Table, query: ReportQuery, keys: dict[str, Shape], values: dict[str, Shape]
) -> ir.Table:
    """``keys + [p] + values``: what ``cohort_deltas`` gets wrong in the current period.

    The kept changes say a range covers period p iff ``period(start) <= p <
    period(end)``, true of every finished period; the current one is measured on
    ``as_of`` instead (``start <= as_of < end``, which also leaves out members whose paid
    start is after it). The two differ only for ranges that start or end in the current
    period: each adds ``value × (truth − kept)`` at ``p = current``."""
    current, interval = query.current, query.interval
    near = table.filter(
        (stored_period(table, "start", interval) == current)
        | (stored_period(table, "end", interval) == current)
    )
    end = stored_period(near, "end", interval)
    truth = (near.start_date <= query.as_of) & (
        near.end_date.isnull() | (near.end_date > query.as_of)
    )
    kept = (stored_period(near, "start", interval) <= current) & (end.isnull() | (end > current))
    one, zero = ibis.literal(1, "int64"), ibis.literal(0, "int64")
    near = near.mutate(_k=ibis.ifelse(truth, one, zero) - ibis.ifelse(kept, one, zero))
    near = near.filter(near._k != 0)
    return near.select(
        **{k: shape(near).cast(KEY_TYPES[k]) for k, shape in keys.items()},
        p=ibis.literal(current, "int64"),
        **{n: (shape(near) * near._k).cast("int64") for n, shape in values.items()},
    )


def whole_scope_triangle(
    warehouse: Warehouse,
    scope: Scope,
    query: ReportQuery,
    by_period: ir.Table,
    by_day: ir.Table,
) -> ir.Table:
    """``triangle`` for a whole scope: counts, MRR, initial MRR and most of the gross
    from the summed changes; only the gross of members in a foreign currency whose level
    moved away from their initial and whose class is not their default
    (``_foreign_gross``), and of members in several currencies, reads segments."""
    current = query.current
    deltas = scope_deltas(warehouse, scope, query)
    every_segment = scoped(warehouse, MRR_SEGMENTS, scope)  # corrections: the whole scope
    every_spell = scoped(warehouse, PAID_SPELLS, scope)
    segments = restricted(warehouse, scope, MRR_SEGMENTS, query)  # the universe
    parts: list[ir.Table] = []

    def p0(t: ir.Table) -> ir.Value:
        return stored_period(t, "0", query.interval)

    # retained customers
    kept = deltas.filter(deltas.kind == COUNT)
    counts = union_all(
        [
            kept.select(p0="p0", p="p", n=kept.n.cast("int64")),
            _at_current(every_spell, query, {"p0": p0}, {"n": lambda t: ibis.literal(1)}),
        ]
    )
    counts = dense_levels(sum_per_period(counts, ["p0"]), ["p0"], current)
    parts.append(result_part(counts, customers=counts.n))

    # MRR, and the gross linear in the level: ``m`` is min(v, b) of every member in one
    # currency. Where one factor converts level and initial (SIMPLE) that is the gross;
    # in a foreign currency the members at (TRACK) and above (ABOVE) their initial are
    # taken off it below, leaving the levels of those below it (UNDER by default)
    money = deltas.filter(deltas.kind == MONEY)
    keys = {"p0": p0, "currency": lambda t: t.currency}
    blocks = [
        money.select(
            p0="p0",
            currency=money.currency.cast("string"),
            p="p",
            lm=money.v.cast("int64"),
            lg=money.m.cast("int64"),
        ),
        _at_current(
            every_segment,
            query,
            keys,
            {
                "lm": lambda t: t.level_minor,
                "lg": lambda t: ibis.ifelse(
                    t.pay_currency.notnull(), ibis.least(t.level_minor, t.initial_minor), 0
                ),
            },
        ),
    ]
    if query.fix_fx:  # one factor for all: every gross is linear
        cohorts = ["p0", "currency"]
        linear = dense_levels(sum_per_period(union_all(blocks), cohorts), cohorts, current)
        linear = with_factors(linear, by_period, by_day, query, day=None)
        parts.append(result_part(linear, mrr=linear.lm * linear.f, gross=linear.lg * linear.f))
    else:
        linear = union_all(blocks)
        parts.extend(
            _foreign_gross(deltas, every_segment, segments, linear, by_period, by_day, query)
        )

    several = ranged_periods(segments.filter(segments.pay_currency.isnull()), query)
    parts.append(several_part(segments, several, by_period, by_day, query))

    # initial MRR: kept per currency and paid start
    first = deltas.filter((deltas.kind == INITIAL) & (deltas.ps <= query.as_of))
    first = first.group_by("p0", "currency", paid_started_at=first.ps).agg(b=first.v.sum())
    parts.append(initial_part(first, by_period, by_day, query))
    return result_of(parts)


def _foreign_gross(
    deltas: ir.Table,
    every_segment: ir.Table,
    segments: ir.Table,
    linear: ir.Table,
    by_period: ir.Table,
    by_day: ir.Table,
    query: ReportQuery,
) -> list[ir.Table]:
    """The whole scope's MRR and gross without ``fix_fx`` (``linear``: the MRR and linear
    gross changes per ``p0, currency, p``).

    Members in one foreign currency are counted by default as the kept sums say: at
    their initial level as ``TRACK`` (``b * min(F(p), F(paid start))``), above it as
    ``OVER`` (the constant ``b * F(paid start)``), below it as ``UNDER`` (their level,
    linear: ``m`` less the other two). Both kinds are kept per paid start and summed
    here per (currency, paid start, period) as ``changes``: ``lt`` the TRACK levels,
    ``lc`` the ABOVE initials, ``lg`` what they take off ``m``. Only the segments whose
    class at this report's rates is not their default (``classified``: a rate moved
    far enough to put a lower level over its initial, or a higher one under it, or too
    close to call) are read one by one: their default taken off, their class's value
    added, and the ``AMBIGUOUS`` ones compared exactly per period."""
    current, base = query.current, query.base_currency
    foreign = deltas.filter(
        ((deltas.kind == KEPT_TRACK) | (deltas.kind == ABOVE)) & (deltas.currency != base)
    )
    capped = every_segment.filter(
        every_segment.pay_currency.notnull()
        & (every_segment.currency != base)
        & (every_segment.level_minor >= every_segment.initial_minor)
    )
    changes = union_all(
        [
            foreign.select(
                currency=foreign.currency.cast("string"),
                paid_started_at=foreign.ps.cast("date"),
                p="p",
                lt=ibis.ifelse(foreign.kind == KEPT_TRACK, foreign.t, 0).cast("int64"),
                lc=ibis.ifelse(foreign.kind == ABOVE, foreign.t, 0).cast("int64"),
                lg=(-foreign.t).cast("int64"),
            ),
            _at_current(
                capped,
                query,
                {"currency": lambda t: t.currency, "paid_started_at": lambda t: t.paid_started_at},
                {
                    "lt": lambda t: ibis.ifelse(
                        t.level_minor == t.initial_minor, t.initial_minor, 0
                    ),
                    "lc": lambda t: ibis.ifelse(
                        t.level_minor > t.initial_minor, t.initial_minor, 0
                    ),
                    "lg": lambda t: -t.initial_minor,
                },
            ),
        ]
    )
    changes = sum_per_period(changes, ["currency", "paid_started_at"])
    changes = changes.filter((changes.lt != 0) | (changes.lc != 0) | (changes.lg != 0))

    # the segments whose class is not their default
    moved = segments.filter(
        segments.pay_currency.notnull()
        & (segments.currency != base)
        & (segments.level_minor != segments.initial_minor)
    ).select(*_MOVED_COLUMNS)  # a CTE below: only what it needs
    moved = classified(ranged_periods(moved, query), by_period, by_day, query, exact_start=True)
    odd = moved.filter(
        ibis.ifelse(moved.level_minor < moved.initial_minor, moved.cls != UNDER, moved.cls != OVER)
    )
    below = odd.level_minor < odd.initial_minor  # its default: UNDER, else OVER
    int_zero, decimal_zero = ibis.literal(0).cast("int64"), ibis.literal(0).cast(FACTOR_TYPE)
    over_value = (odd.initial_minor * odd.f0).cast(FACTOR_TYPE)
    # its class's value less its default's, in both columns (an AMBIGUOUS one: less only)
    lg = (
        ibis.ifelse(odd.cls == UNDER, odd.level_minor, 0) - ibis.ifelse(below, odd.level_minor, 0)
    ).cast("int64")
    cc = ibis.ifelse(odd.cls == OVER, over_value, decimal_zero) - ibis.ifelse(
        below, decimal_zero, over_value
    )
    keyed = {"p0": odd.p0.cast("int64"), "currency": odd.currency.cast("string")}
    stops = odd.select(**keyed, p=(odd.hi + 1).cast("int64"), lm=int_zero, lg=-lg, cc=-cc)
    extra = union_all(
        [
            linear.select("p0", "currency", "p", "lm", "lg", cc=decimal_zero),
            odd.select(**keyed, p=odd.first.cast("int64"), lm=int_zero, lg=lg, cc=cc),
            stops.filter(stops.p <= current),
        ]
    )
    parts = capped_from_changes(changes, [], by_period, by_day, query, extra)
    ambiguous = odd.filter(odd.cls == AMBIGUOUS).drop("f0")
    parts.append(ambiguous_part(ambiguous, by_period, by_day, query))
    return parts
