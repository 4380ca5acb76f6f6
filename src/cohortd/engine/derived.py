"""Per-customer facts derived from the MRR history, kept true at every write (issue #4).

The retention report and cohort membership read these instead of re-deriving them from
the subscriptions on every query (window functions over every row of a scope):

- ``customer_facts``: one row per customer of the scope — ``paid_started_at`` (SPEC §1,
  null if never paid), the billing ``currency`` (given, else the earliest subscription
  row's), the upper-cased ``country``, and, for customers that pay in one currency only,
  ``pay_currency`` and ``initial_minor`` (its MRR on ``paid_started_at``, own minor
  units); ``pay_currencies`` counts the currencies of its paying rows.
- ``paid_spells``: maximal runs of days with MRR > 0 (``[start_date, end_date)``, open
  end = still paying). A day lies in at most one spell of a customer.
- ``mrr_segments``: per customer and currency, maximal runs of days with a constant MRR
  ``level_minor`` > 0 (overlapping rows summed). The sum of a customer's segments
  covering day d is its MRR on d, currency by currency.

Spells and segments repeat the customer's ``paid_started_at``, ``currency``,
``country``, ``pay_currency`` and ``initial_minor`` so that a report without customer
filters reads one table and joins nothing.

``refresh(warehouse, scope, customer_ids)`` recomputes the rows of the given customers
(``None``: the whole scope) from the canonical tables; the import calls it inside its
transaction, so the derived tables change exactly when the data does.
"""

from __future__ import annotations

import uuid
from contextlib import ExitStack
from typing import Final

import ibis
import ibis.expr.types as ir

from cohortd.warehouse import Scope, Warehouse, scoped
from cohortd.warehouse.tables import (
    CUSTOMER_FACTS,
    CUSTOMERS,
    DERIVED_TABLES,
    MRR_SEGMENTS,
    PAID_SPELLS,
    SUBSCRIPTIONS,
)

_FACT_COLUMNS: Final = (
    "customer_id",
    "paid_started_at",
    "currency",
    "country",
    "pay_currency",
    "initial_minor",
)


def _segments(paying: ir.Table) -> ir.Table:
    """``customer_id, currency, start_date, end_date, level_minor``: a sweep over the days
    where a (customer, currency)'s MRR changes; one net change per day, so the running
    sum has no ties to order. Days where the net change is 0 do not split a segment."""
    starts = paying.select(
        "customer_id", "currency", day=paying.start_date.cast("date"), d=paying.mrr_minor
    )
    ended = paying.filter(paying.end_date.notnull())
    stops = ended.select(
        "customer_id", "currency", day=ended.end_date.cast("date"), d=-ended.mrr_minor
    )
    both = starts.union(stops, distinct=False)
    events = both.group_by(["customer_id", "currency", "day"]).agg(d=both.d.sum())
    events = events.filter(events.d != 0)
    keys = [events.customer_id, events.currency]
    upto = ibis.window(group_by=keys, order_by=events.day, rows=(None, 0))
    after = ibis.window(group_by=keys, order_by=events.day)
    swept = events.mutate(
        level_minor=events.d.sum().over(upto), end_date=events.day.lead().over(after)
    )
    swept = swept.filter(swept.level_minor > 0)
    return swept.select(
        "customer_id",
        "currency",
        start_date=swept.day,
        end_date=swept.end_date,
        level_minor=swept.level_minor.cast("int64"),
    )


def _spells(paying: ir.Table) -> ir.Table:
    """``customer_id, start_date, end_date``: maximal runs of days covered by a paying row.

    A sweep over the number of paying rows running: a spell opens where it leaves 0 and
    closes where it returns to 0 (rows that touch, end = start, merge)."""
    starts = paying.select(
        "customer_id", day=paying.start_date.cast("date"), d=ibis.literal(1, "int64")
    )
    ended = paying.filter(paying.end_date.notnull())
    stops = ended.select(
        "customer_id", day=ended.end_date.cast("date"), d=ibis.literal(-1, "int64")
    )
    both = starts.union(stops, distinct=False)
    events = both.group_by(["customer_id", "day"]).agg(d=both.d.sum())
    events = events.filter(events.d != 0)
    upto = ibis.window(group_by=events.customer_id, order_by=events.day, rows=(None, 0))
    running = events.mutate(n=events.d.sum().over(upto))
    after = ibis.window(group_by=running.customer_id, order_by=running.day)
    marked = running.mutate(
        prev=running.n.lag().over(after), end_date=running.day.lead().over(after)
    )
    opens = ibis.ifelse(marked.prev.isnull() | (marked.prev == 0), 1, 0)
    pieces = marked.filter(marked.n > 0).mutate(opens=opens)
    upto_piece = ibis.window(group_by=pieces.customer_id, order_by=pieces.day, rows=(None, 0))
    numbered = pieces.mutate(spell=pieces.opens.sum().over(upto_piece))
    spells = numbered.group_by(["customer_id", "spell"]).agg(
        start_date=numbered.day.min(),
        end_date=numbered.end_date.max(),
        is_open=numbered.end_date.isnull().any(),
    )
    return spells.select(
        "customer_id",
        "start_date",
        end_date=ibis.ifelse(spells.is_open, ibis.null("date"), spells.end_date),
    )


def _facts(customers: ir.Table, subscriptions: ir.Table, segments: ir.Table) -> ir.Table:
    ranked = subscriptions.mutate(
        _rank=ibis.row_number().over(
            group_by=subscriptions.customer_id,
            order_by=[subscriptions.start_date, subscriptions.id],
        )
    )
    first = ranked.filter(ranked._rank == 0).select(
        customer_id=ranked.customer_id, first_currency=ranked.currency
    )
    paid = segments.group_by("customer_id").agg(
        paid_started_at=segments.start_date.min(),
        pay_currencies=segments.currency.nunique(),
        one_currency=segments.currency.max(),
    )
    at_start = segments.join(paid, "customer_id")
    at_start = at_start.filter(at_start.start_date == at_start.paid_started_at)
    initial = at_start.group_by("customer_id").agg(initial_minor=at_start.level_minor.sum())
    base = customers.select("id", "currency", "country")
    joined = (
        base.left_join(first, base.id == first.customer_id)
        .left_join(paid, base.id == paid.customer_id)
        .left_join(initial, base.id == initial.customer_id)
    )
    single = joined.pay_currencies == 1
    return joined.select(
        customer_id=joined.id,
        paid_started_at=joined.paid_started_at,
        currency=ibis.coalesce(joined.currency, joined.first_currency),
        country=joined.country.upper(),
        pay_currency=ibis.ifelse(single, joined.one_currency, ibis.null("string")),
        initial_minor=ibis.ifelse(single, joined.initial_minor, ibis.null("int64")),
        pay_currencies=joined.pay_currencies.fill_null(0).cast("int64"),
    )


def _segment_rows(segments: ir.Table, carried: ir.Table) -> ir.Table:
    joined = segments.join(carried, "customer_id")
    return joined.select(
        "customer_id",
        "paid_started_at",
        billing_currency=joined.currency_right,
        country=joined.country,
        pay_currency=joined.pay_currency,
        initial_minor=joined.initial_minor,
        currency=joined.currency,
        start_date=joined.start_date,
        end_date=joined.end_date,
        level_minor=joined.level_minor,
    )


def refresh(warehouse: Warehouse, scope: Scope, customer_ids: ir.Table | None = None) -> None:
    """Recompute the derived rows of ``customer_ids`` (a table with ``customer_id``;
    ``None``: every customer of the scope) from the canonical tables.

    Call it inside the transaction that changed the canonical rows (it opens none): old
    rows of those customers are deleted and new ones inserted, so readers see the
    derived rows of the old data or of the new, never a mix. The segments and the facts
    are computed once, into temp tables, and the three tables are filled from them.
    """
    customers = scoped(warehouse, CUSTOMERS, scope)
    subscriptions = scoped(warehouse, SUBSCRIPTIONS, scope)
    if customer_ids is not None:
        customers = customers.filter(customers.id.isin(customer_ids.customer_id))
        subscriptions = subscriptions.filter(
            subscriptions.customer_id.isin(customer_ids.customer_id)
        )
    paying = subscriptions.filter(subscriptions.mrr_minor > 0)
    token = uuid.uuid4().hex[:12]
    with warehouse._lock, ExitStack() as cleanup:

        def temp(label: str, expr: ir.Table) -> ir.Table:
            name = f"_derived_{label}_{token}"
            made = warehouse.create_temp_table(name, expr)
            cleanup.callback(warehouse.drop_temp_table, name)
            return made

        segments = temp("segments", _segments(paying))
        facts = temp("facts", _facts(customers, subscriptions, segments))
        carried = facts.filter(facts.paid_started_at.notnull()).select(*_FACT_COLUMNS)
        spells = _spells(paying).join(carried, "customer_id")
        rows = {
            CUSTOMER_FACTS: facts,
            PAID_SPELLS: spells.select(*_FACT_COLUMNS[:4], "start_date", "end_date"),
            MRR_SEGMENTS: _segment_rows(segments, carried),
        }
        for name in DERIVED_TABLES:
            if customer_ids is None:
                warehouse.delete_scope(name, scope)
            else:
                warehouse.delete_matching(name, scope, ("customer_id",), customer_ids)
            source = rows[name]
            warehouse.insert_expr(
                name,
                source.select(
                    org_id=ibis.literal(scope.org_id),
                    livemode=ibis.literal(scope.livemode),
                    **{c: source[c] for c in source.columns},
                ),
            )
