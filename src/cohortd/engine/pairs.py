"""The (member, period) pairs a movement can happen in, with the member's MRR per
currency on the period's two measuring days: what ``engine.movements`` classifies per
request and ``engine.derived`` keeps for members billed in several currencies
(``several_pairs``)."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir


def changed_pairs(ranged: ir.Table, n: int) -> ir.Table:
    """``group_id, customer_id, i, currency, s, e, paid_started_at``: per member whose MRR
    changed inside period i (1 ≤ i ≤ n), its MRR in each currency on the two measuring
    days i − 1 and i.

    ``ranged``: segments (``group_id``, ``customer_id``, ``currency``,
    ``paid_started_at``, ``level_minor``) with ``lo`` and ``hi``: each covers the
    measuring days ``lo ≤ j < hi``; a member can only have moved in a period one of its
    segments starts or ends in."""
    starts = ranged.filter((ranged.lo >= 1) & (ranged.lo <= n)).select(
        "group_id", "customer_id", i=ranged.lo
    )
    ends = ranged.filter(ranged.hi <= n).select("group_id", "customer_id", i=ranged.hi)
    changed = starts.union(ends, distinct=True)
    own = ranged.select(
        seg_group=ranged.group_id,
        seg_customer=ranged.customer_id,
        currency=ranged.currency,
        paid_started_at=ranged.paid_started_at,
        level=ranged.level_minor,
        lo=ranged.lo,
        hi=ranged.hi,
    )
    joined = changed.join(
        own, [changed.group_id == own.seg_group, changed.customer_id == own.seg_customer]
    )
    zero = ibis.literal(0, "int64")
    at_s = (joined.lo <= joined.i - 1) & (joined.i - 1 < joined.hi)
    at_e = (joined.lo <= joined.i) & (joined.i < joined.hi)
    measured = joined.filter(at_s | at_e).select(
        "group_id",
        "customer_id",
        "i",
        "currency",
        "paid_started_at",
        s=ibis.ifelse(at_s, joined.level, zero),
        e=ibis.ifelse(at_e, joined.level, zero),
    )
    return measured.group_by(["group_id", "customer_id", "i", "currency"]).agg(
        s=measured.s.sum().cast("int64"),
        e=measured.e.sum().cast("int64"),
        paid_started_at=measured.paid_started_at.min(),
    )
