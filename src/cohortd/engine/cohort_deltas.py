"""The rows of ``cohort_deltas`` (``engine.derived``'s one table per scope, not per
customer): the spells' and segments' changes summed per (unit: week or month, kind,
cohort period, currency, paid start for the kinds that need it, period of the change). A
range ``[start, end)`` covers the last day of period p iff ``period(start) <= p <
period(end)``, so ``+x`` at ``period(start)`` and ``-x`` at ``period(end)`` describe
every finished period whatever the report's ``date``: the report of a whole scope (no
filter, no breakdown) sums these few rows instead of the millions of segments
(``engine.whole_scope``). Kinds: ``COUNT`` (paying members, from the spells), ``MONEY``
(MRR levels per currency, and ``min(level, initial)`` for members paying in one
currency), ``TRACK`` (members in one currency at their initial level, per paid start:
their capped value depends on the rate of that day), ``ABOVE`` (the initial of members
in one currency above their initial level, per paid start: capped at it unless the rates
move a long way) and ``INITIAL`` (the initial MRR per currency and paid start). What is
left of ``m`` once ``TRACK`` and ``ABOVE`` are taken off is the levels of members below
their initial. Quarters and years follow from the month rows by integer division. Months
only, the movements of members paying in one currency (SPEC §4 and §8; not changes to
undo at an end, but one row per member and month it moved in, summed): ``MOVES`` kinds
``NEW`` … ``CHURN``, with ``n`` members, ``v`` their MRR on the last day of the month
before (s) and ``m`` on the month's last day (e), own minor units. In one currency the
sign of e − s does not depend on the rate, so these sums are the monthly metrics of a
whole scope without reading a segment (``engine.monthly``).
"""

from __future__ import annotations

from typing import Final

import ibis
import ibis.expr.types as ir

from cohortd.warehouse.tables import COHORT_DELTAS, SCHEMAS

# ``cohort_deltas``: units and kinds
UNIT_WEEK: Final = 0
UNIT_MONTH: Final = 1
COUNT: Final = 0
MONEY: Final = 1
TRACK: Final = 2
INITIAL: Final = 3
ABOVE: Final = 4
# movements of one-currency members per month (``_moves``), ``engine.movement_model.Movement``
NEW: Final = 5
REACTIVATION: Final = 6
EXPANSION: Final = 7
CONTRACTION: Final = 8
CHURN: Final = 9
MOVES: Final = (NEW, REACTIVATION, EXPANSION, CONTRACTION, CHURN)
OPEN_MONTH: Final = 2**31 - 1  # the month number of an open end
DELTA_KEYS: Final = ("unit", "kind", "p0", "currency", "ps", "p")
DELTA_VALUES: Final = ("n", "v", "m", "t")


def _changes(
    table: ir.Table,
    *,
    kind: int | ir.IntegerValue,
    values: dict[str, ir.IntegerValue],
    currency: ir.StringValue | None = None,
    ps: ir.DateValue | None = None,
    stops: bool = True,
) -> list[ir.Table]:
    """``table``'s rows as ``cohort_deltas`` rows, in both units: each value added in the
    period of ``start_date`` and (``stops``) taken off in the period of ``end_date``."""
    blocks = []
    for unit, name in ((UNIT_WEEK, "week"), (UNIT_MONTH, "month")):
        keys = {
            "unit": ibis.literal(unit, "int8"),
            "kind": (ibis.literal(kind) if isinstance(kind, int) else kind).cast("int8"),
            "p0": table[f"{name}0"].cast("int32"),
            "currency": (currency if currency is not None else ibis.null()).cast("string"),
            "ps": (ps if ps is not None else ibis.null()).cast("date"),
        }

        def filled(sign: int) -> dict[str, ir.IntegerValue]:
            return {
                n: (sign * values[n] if n in values else ibis.literal(0)).cast("int64")
                for n in DELTA_VALUES
            }

        start = table[f"{name}_start"] if stops else table[f"{name}0"]
        blocks.append(table.select(**keys, p=start.cast("int32"), **filled(1)))
        if stops:
            ended = table[f"{name}_end"]
            blocks.append(
                table.filter(ended.notnull()).select(**keys, p=ended.cast("int32"), **filled(-1))
            )
    return blocks


def delta_rows(segments: ir.Table, spells: ir.Table) -> ir.Table:
    """The ``cohort_deltas`` rows (not yet summed) of some segments and spells."""
    one = segments.pay_currency.notnull()
    # at (TRACK) or above (ABOVE) the initial: one pass for both kinds
    capped = segments.filter(one & (segments.level_minor >= segments.initial_minor))
    at_initial = capped.level_minor == capped.initial_minor
    opening = segments.filter(segments.start_date == segments.paid_started_at)
    blocks = [
        *_changes(spells, kind=COUNT, values={"n": ibis.literal(1)}),
        *_changes(
            segments,
            kind=MONEY,
            currency=segments.currency,
            values={
                "v": segments.level_minor,
                "m": ibis.ifelse(one, ibis.least(segments.level_minor, segments.initial_minor), 0),
            },
        ),
        *_changes(
            capped,
            kind=ibis.ifelse(at_initial, TRACK, ABOVE),
            currency=capped.currency,
            ps=capped.paid_started_at,
            values={"t": capped.initial_minor},
        ),
        *_changes(
            opening,
            kind=INITIAL,
            currency=opening.currency,
            ps=opening.paid_started_at,
            values={"v": opening.level_minor},
            stops=False,
        ),
    ]
    blocks.append(_moves(segments))
    return blocks[0].union(*blocks[1:], distinct=False)


def month_ranges(segments: ir.Table, *names: str, **values: ir.Value) -> ir.Table:
    """``names`` and ``values`` of the segments with ``lo`` and ``hi``: a segment covers
    the last day of months ``lo ≤ p < hi`` (``hi`` = ``OPEN_MONTH`` for an open end);
    those covering no month's last day are left out (they move nothing)."""
    ranged = segments.select(
        *names,
        **values,
        lo=segments.month_start.cast("int64"),
        hi=segments.month_end.cast("int64").fill_null(ibis.literal(OPEN_MONTH, "int64")),
    )
    return ranged.filter(ranged.lo < ranged.hi)


def _moves(segments: ir.Table) -> ir.Table:
    """The ``MOVES`` rows of the segments of members paying in one currency. A segment
    covers the last day of months ``lo ≤ p < hi`` (``month_start``, ``month_end``, as
    everywhere in this table), and a member paying in one currency has at most one
    segment on any day: in its segments that cover a month's last day, ordered by
    ``lo``, the member can only move where one opens (s: the one before, if it reaches
    that month; e: its level) or closes with none opening in that month (s: its level,
    e: 0). One sort per member, no join."""
    one = segments.filter(segments.pay_currency.notnull())
    open_month = ibis.literal(OPEN_MONTH, "int64")
    zero = ibis.literal(0, "int64")
    own = month_ranges(
        one, "customer_id", "level_minor", p0=one.month0.cast("int64"), currency=one.pay_currency
    )
    order = ibis.window(group_by=own.customer_id, order_by=own.lo)
    own = own.mutate(
        prev_hi=own.hi.lag().over(order),
        prev_level=own.level_minor.lag().over(order),
        next_lo=own.lo.lead().over(order),
    )
    reached = (own.prev_hi == own.lo).fill_null(False)
    opened = own.select(
        "p0",
        "currency",
        p=own.lo,
        s=ibis.ifelse(reached, own.prev_level, zero).cast("int64"),
        e=own.level_minor.cast("int64"),
    )
    closes = (own.hi < open_month) & (own.next_lo.isnull() | (own.next_lo != own.hi))
    closed = own.filter(closes).select(
        "p0", "currency", p=own.hi, s=own.level_minor.cast("int64"), e=zero
    )
    pairs = opened.union(closed, distinct=False)
    kind = ibis.cases(
        ((pairs.s > 0) & (pairs.e == 0), CHURN),
        ((pairs.s == 0) & (pairs.e > 0) & (pairs.p == pairs.p0), NEW),
        ((pairs.s == 0) & (pairs.e > 0), REACTIVATION),
        ((pairs.s > 0) & (pairs.e > pairs.s), EXPANSION),
        ((pairs.s > 0) & (pairs.e < pairs.s), CONTRACTION),
        else_=ibis.null("int64"),
    )
    moved = pairs.mutate(kind=kind)
    moved = moved.filter(moved.kind.notnull())
    return moved.select(
        unit=ibis.literal(UNIT_MONTH, "int8"),
        kind=moved.kind.cast("int8"),
        p0=moved.p0.cast("int32"),
        currency=moved.currency.cast("string"),
        ps=ibis.null().cast("date"),
        p=moved.p.cast("int32"),
        n=ibis.literal(1, "int64"),
        v=moved.s,
        m=moved.e,
        t=zero,
    )


def summed_deltas(rows: ir.Table) -> ir.Table:
    """``rows`` summed per key, the rows whose every sum is 0 dropped."""
    summed = rows.group_by(list(DELTA_KEYS)).agg(
        **{n: rows[n].sum().cast("int64") for n in DELTA_VALUES}
    )
    return summed.filter(ibis.or_(*(summed[n] != 0 for n in DELTA_VALUES)))


def typed_deltas(rows: ir.Table, sign: int = 1) -> ir.Table:
    """``cohort_deltas`` columns in one (nullable) schema, the values times ``sign``."""
    types = SCHEMAS[COHORT_DELTAS]
    keys = {k: rows[k].cast(types[k].copy(nullable=True)) for k in DELTA_KEYS}
    return rows.select(**keys, **{n: (sign * rows[n]).cast("int64") for n in DELTA_VALUES})
