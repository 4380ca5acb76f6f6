"""Per-customer facts derived from the MRR history (SPEC §1), as Ibis expressions."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir


def paid_started(subscriptions: ir.Table) -> ir.Table:
    """``customer_id, paid_started_at``: the first day each customer's MRR is > 0.

    MRR is never negative, so a customer pays on day d exactly when one of its rows with
    ``mrr_minor > 0`` covers d; the first such day is the earliest such row's start.
    Customers that never paid have no row here.
    """
    paying = subscriptions.filter(subscriptions.mrr_minor > 0)
    return paying.group_by("customer_id").agg(paid_started_at=paying.start_date.min())


def billing_currency(customers: ir.Table, subscriptions: ir.Table) -> ir.Table:
    """``customer_id, currency``: the given currency, else the earliest subscription's.

    Earliest is by ``start_date`` then ``id`` (SPEC §1).
    """
    ranked = subscriptions.mutate(
        _rank=ibis.row_number().over(
            group_by=subscriptions.customer_id,
            order_by=[subscriptions.start_date, subscriptions.id],
        )
    )
    first = ranked.filter(ranked._rank == 0).select(
        customer_id=ranked.customer_id, first_currency=ranked.currency
    )
    joined = customers.left_join(first, customers.id == first.customer_id)
    return joined.select(
        customer_id=joined.id,
        currency=ibis.coalesce(joined.currency, joined.first_currency),
    )
