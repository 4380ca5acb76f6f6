"""Retained MRR and customers without a per-(customer, period) expansion (issue #4).

A stretch [start, end) covers the evaluation day of period p (its last day, or
``as_of`` for the current period) iff ``period(start) <= p <= hi`` where ``hi`` is the
current period when the stretch runs on ``as_of`` (``start <= as_of < end``), else
``min(period(end) - 1, current - 1)``. Those two cases join up: a stretch running on
``as_of`` with past periods covers ``current - 1`` too. So every stretch is one integer
range of periods, and a sum over stretches per period is a difference array: ``+x`` at
``first``, ``-x`` at ``hi + 1``, then a running sum over periods (done in Python over
the small grouped result: (group, p0, currency, period) rows, exact integers).

Counts need each customer once per period: paying stretches are merged into disjoint
"paid spells" (days with MRR > 0), and a day lies in at most one spell, so spells
become ranges the same way and count each customer at most once per period.

The gross cap ("MRR capped at its own initial MRR") compares converted amounts. When a
member has one currency and both amounts are converted with the same factor (the base
currency itself, or ``fix_fx``), that is comparing own-currency minor units: over each
range of days with constant MRR the capped amount is ``min(MRR, initial)``, again a
difference array. The other members (*candidates*: foreign currency without
``fix_fx``, or several currencies) are expanded per (member, period)
(``engine.retention.period_mrr``) and compared with float factors, as before.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from cohortd.engine.periods import open_end_period, period_of_expr
from cohortd.engine.retention import ReportQuery

KEYS = ["grp", "p0", "ps", "customer_id"]


def _ranged(table: ir.Table, query: ReportQuery) -> ir.Table:
    """Adds ``first``/``hi``: the periods whose evaluation day ``[start_date, end_date)``
    covers; rows covering none are dropped."""
    current = query.current
    first = period_of_expr(table.start_date, query.interval)
    past_last = ibis.least(
        open_end_period(table.end_date, query.interval, beyond=current) - 1,
        ibis.literal(current - 1, "int64"),
    )
    running = (table.start_date <= query.as_of) & (
        table.end_date.isnull() | (table.end_date > query.as_of)
    )
    hi = ibis.ifelse(running, ibis.literal(current, "int64"), past_last)
    ranged = table.mutate(first=first, hi=hi)
    return ranged.filter(ranged.hi >= ranged.first)


def _deltas(ranged: ir.Table, keys: list[str], value: ir.IntegerValue | int) -> ir.Table:
    """``keys + [p, d]``: the difference array of ``value`` over each row's range."""
    amount = ibis.literal(value, "int64") if isinstance(value, int) else value
    starts = ranged.select(*keys, p=ranged.first, d=amount)
    stops = ranged.select(*keys, p=ranged.hi + 1, d=-amount)
    both = starts.union(stops, distinct=False)
    return both.group_by([*keys, "p"]).agg(d=both.d.sum())


def mrr_deltas(stretches: ir.Table, query: ReportQuery) -> ir.Table:
    """``grp, p0, currency, p, d``: retained MRR (minor units) as differences."""
    ranged = _ranged(stretches, query)
    return _deltas(ranged, ["grp", "p0", "currency"], ranged.mrr_minor)


def paid_spells(stretches: ir.Table) -> ir.Table:
    """``grp, p0, ps, customer_id, start_date, end_date``: maximal runs of days with MRR > 0.

    Gaps and islands: ordered by start, a row opens a new spell unless an earlier row of
    the customer is still running on its start (adjacent rows, end == start, merge).
    """
    earlier = ibis.window(
        group_by=stretches.customer_id,
        order_by=[stretches.start_date, stretches.end_date],
        rows=(None, -1),
    )
    # open-ended rows never end: tracked by a flag, no sentinel date needed
    marked = stretches.mutate(
        prev_end=stretches.end_date.max().over(earlier),
        prev_open=ibis.ifelse(stretches.end_date.isnull(), 1, 0).max().over(earlier),
    )
    still_running = (marked.prev_open == 1) | (marked.prev_end >= marked.start_date)
    opens = ibis.ifelse(still_running.fill_null(False), 0, 1)
    numbered = marked.mutate(opens=opens)
    upto = ibis.window(
        group_by=numbered.customer_id,
        order_by=[numbered.start_date, numbered.end_date],
        rows=(None, 0),
    )
    spelled = numbered.mutate(spell=numbered.opens.sum().over(upto))
    spells = spelled.group_by([*KEYS, "spell"]).agg(
        start_date=spelled.start_date.min(),
        end_date=spelled.end_date.max(),
        is_open=spelled.end_date.isnull().any(),
    )
    return spells.select(
        *KEYS,
        "start_date",
        end_date=ibis.ifelse(spells.is_open, ibis.null("date"), spells.end_date),
    )


def count_deltas(stretches: ir.Table, query: ReportQuery) -> ir.Table:
    """``grp, p0, p, d``: retained customers as differences (one per covering spell)."""
    return _deltas(_ranged(paid_spells(stretches), query), ["grp", "p0"], 1)


def candidates(stretches: ir.Table, initial: ir.Table, query: ReportQuery) -> ir.Table:
    """``customer_id, currency, b, cand``: must the gross cap be decided per period?

    Not a candidate: one currency among its paying rows, equal to the base currency or
    ``fix_fx``. Both amounts then use one factor, so comparing converted amounts is
    comparing own-currency amounts (``b``: the initial MRR, its rows covering its paid
    start) and the cap is ``min(MRR, b)`` in minor units (``gross_deltas``).
    """
    own = stretches.group_by("customer_id").agg(
        currencies=stretches.currency.nunique(), currency=stretches.currency.max()
    )
    b = initial.group_by("customer_id").agg(b=initial.b.sum())
    joined = own.join(b, "customer_id")
    same_factor = ibis.literal(query.fix_fx) | (joined.currency == query.base_currency)
    safe = (joined.currencies == 1) & same_factor
    return joined.select("customer_id", "currency", "currencies", "b", cand=~safe)


def segments(stretches: ir.Table) -> ir.Table:
    """``grp, p0, ps, customer_id, start_date, end_date, level``: each member's MRR history
    as maximal day ranges of constant own-currency MRR ``level`` > 0 (rows summed).

    A sweep over the days where the MRR changes: one net change per (customer, day), so
    the running sum has no ties to order.
    """
    starts = stretches.select(*KEYS, day=stretches.start_date, d=stretches.mrr_minor)
    ended = stretches.filter(stretches.end_date.notnull())
    stops = ended.select(*KEYS, day=ended.end_date, d=-ended.mrr_minor)
    both = starts.union(stops, distinct=False)
    events = both.group_by([*KEYS, "day"]).agg(d=both.d.sum())
    upto = ibis.window(group_by=events.customer_id, order_by=events.day, rows=(None, 0))
    after = ibis.window(group_by=events.customer_id, order_by=events.day)
    swept = events.mutate(level=events.d.sum().over(upto), end_date=events.day.lead().over(after))
    swept = swept.filter(swept.level > 0)
    return swept.select(*KEYS, start_date=swept.day, end_date=swept.end_date, level=swept.level)


def gross_deltas(stretches: ir.Table, flags: ir.Table, query: ReportQuery) -> ir.Table:
    """``grp, p0, currency, p, d``: the gross (capped) MRR of the non-candidates, as
    differences: over each constant segment, ``min(level, b)``."""
    safe = flags.filter(~flags.cand)
    joined = segments(stretches).join(safe, "customer_id")
    ranged = _ranged(joined, query)
    return _deltas(ranged, ["grp", "p0", "currency"], ibis.least(ranged.level, ranged.b))


def _keyed(table: ir.Table, factors: ir.Table, key: str) -> ir.Table:
    """``table`` with the float factor ``f`` of its (currency, ``key``)."""
    joined = table.join(factors, [table.currency == factors.currency, table[key] == factors.key])
    return joined.select(*table.columns, f=joined.f)


def foreign_gross(
    stretches: ir.Table,
    flags: ir.Table,
    query: ReportQuery,
    *,
    period_factors: ir.Table,
    initial_factors: ir.Table,
    period_key: str,
    initial_key: str,
) -> tuple[ir.Table, ir.Table]:
    """The gross of the single-currency candidates: ``(uncapped, capped)`` with
    ``grp, p0, p, currency, a`` (MRR of members not capped in p) and
    ``grp, p0, p, ps, currency, b`` (initial MRR of members capped in p).

    Each constant segment is expanded over its periods; a member has at most one
    segment on an evaluation day (segments are disjoint in days), so the segment's
    level is the member's MRR in that period with no grouping per member. The float
    factors decide the comparison exactly as ``engine.retention.capped_flags`` does.
    """
    chosen = flags.filter(flags.cand & (flags.currencies == 1))
    joined = segments(stretches).join(chosen, "customer_id")
    ranged = _keyed(_ranged(joined, query), initial_factors, initial_key)
    ranged = ranged.mutate(b_conv=ranged.b.cast("float64") * ranged.f).drop("f")
    # range(0, n) + first: see engine.retention.period_mrr (ibis 12 on PostgreSQL)
    width = ranged.hi - ranged.first + 1
    expanded = ranged.mutate(p=ranged.first + ibis.range(0, width).unnest())
    rated = _keyed(expanded, period_factors, period_key)
    capped = rated.level.cast("float64") * rated.f > rated.b_conv
    marked = rated.mutate(capped=capped)
    kept = marked.filter(~marked.capped)
    uncapped = kept.group_by(["grp", "p0", "p", "currency"]).agg(a=kept.level.sum())
    over = marked.filter(marked.capped)
    capped_b = over.group_by(["grp", "p0", "p", "ps", "currency"]).agg(b=over.b.sum())
    return uncapped, capped_b
