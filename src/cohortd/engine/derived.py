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

- ``several_pairs``: for members billed in several currencies, the months they moved
  in and their MRR per currency on those months' last days and the month before's
  (what ``engine.monthly`` classifies at a request's rates).

- ``cohort_deltas``: per scope, not per customer: the spells' and segments' changes
  summed (``engine.cohort_deltas`` makes its rows).

Spells and segments repeat the customer's ``paid_started_at``, ``currency``,
``country``, ``pay_currency`` and ``initial_minor`` so that a report without customer
filters reads one table and joins nothing.

``refresh(warehouse, scope, customer_ids)`` recomputes the rows of the given customers
(``None``: the whole scope) from the canonical tables, inside the caller's transaction.

The import does not refresh: inside its transaction it records which customers changed
(``mark_stale``: rows of ``derived_pending``, a null id meaning the whole scope), and
``catch_up`` refreshes them in a transaction of its own right after (the import job
runs it once the data is committed). Every report first calls ``catch_up`` for its
scope, so a report never reads derived rows older than the data, whether the catch-up
after an import ran already, is running (it waits for it) or was lost with a killed
process (it runs it). Why the refresh left the import: docs/import.md, "Derived tables
after the commit, not inside it".
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import suppress
from typing import Final

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from cohortd.engine.cohort_deltas import (
    OPEN_MONTH,
    delta_rows,
    month_ranges,
    summed_deltas,
    typed_deltas,
)
from cohortd.engine.compiled import run_cached
from cohortd.engine.pairs import changed_pairs
from cohortd.engine.periods import stored_period_columns
from cohortd.warehouse import Scope, Warehouse, scoped
from cohortd.warehouse.tables import (
    COHORT_DELTAS,
    CUSTOMER_FACTS,
    CUSTOMERS,
    DERIVED_PENDING,
    DERIVED_TABLES,
    MRR_SEGMENTS,
    PAID_SPELLS,
    SEVERAL_PAIRS,
    SUBSCRIPTIONS,
)

_FACT_COLUMNS: Final = (
    "customer_id",
    "paid_started_at",
    "currency",
    "country",
    "pay_currency",
    "initial_minor",
    "week0",
    "month0",
)


PER_CUSTOMER_TABLES: Final = tuple(t for t in DERIVED_TABLES if t != COHORT_DELTAS)


def _several_pairs(segments: ir.Table) -> ir.Table:
    """``SEVERAL_PAIRS``: for members billed in several currencies, each month some
    currency's MRR on its last day differs from the month before's, and there the MRR of
    every currency paid on either day (s, e). Whether such a member expanded or
    contracted depends on the rates, so the metrics classify these pairs per request; a
    month in which every currency kept its level is no movement at any rate, and is not
    kept."""
    several = segments.filter(segments.pay_currency.isnull())
    own = month_ranges(
        several,
        "customer_id",
        "currency",
        "level_minor",
        "paid_started_at",
        group_id=ibis.literal(""),
    )
    pairs = changed_pairs(own, OPEN_MONTH - 1)  # month numbers; an open end never closes
    member_month = ibis.window(group_by=[pairs.customer_id, pairs.i])
    pairs = pairs.mutate(moved=(pairs.s != pairs.e).any().over(member_month))
    kept = pairs.filter(pairs.moved)
    return kept.select(
        "customer_id",
        "paid_started_at",
        p=kept.i.cast("int32"),
        currency=kept.currency,
        s=kept.s,
        e=kept.e,
    )


def _events(paying: ir.Table) -> ir.Table:
    """``customer_id, currency, day, d``: the net change of a (customer, currency)'s MRR
    on each day it changes (starts add, ends subtract; days netting to 0 dropped)."""
    starts = paying.select(
        "customer_id", "currency", day=paying.start_date.cast("date"), d=paying.mrr_minor
    )
    ended = paying.filter(paying.end_date.notnull())
    stops = ended.select(
        "customer_id", "currency", day=ended.end_date.cast("date"), d=-ended.mrr_minor
    )
    both = starts.union(stops, distinct=False)
    events = both.group_by(["customer_id", "currency", "day"]).agg(d=both.d.sum().cast("int64"))
    return events.filter(events.d != 0)


def _sweep(events: ir.Table) -> ir.Table:
    """The events with ``level_minor`` (the (customer, currency)'s MRR from that day on)
    and ``end_date`` (its next event's day): one sort by customer, currency and day.

    There is one net change per day, so the running sum has no ties to order and every
    event changes the level: an event with ``level_minor > 0`` starts a segment that ends
    at the next event, one with ``level_minor == d`` (the level was 0 before) also starts
    a run of paying days in that currency, and one with ``level_minor == 0`` ends it."""
    keys = [events.customer_id, events.currency]
    upto = ibis.window(group_by=keys, order_by=events.day, rows=(None, 0))
    after = ibis.window(group_by=keys, order_by=events.day)
    return events.mutate(
        level_minor=events.d.sum().over(upto).cast("int64"),
        end_date=events.day.lead().over(after),
    )


def _segments(swept: ir.Table) -> ir.Table:
    """``customer_id, currency, start_date, end_date, level_minor``: the swept events
    that leave a positive level."""
    paying = swept.filter(swept.level_minor > 0)
    return paying.select(
        "customer_id",
        "currency",
        "level_minor",
        start_date=paying.day,
        end_date=paying.end_date,
    )


def _edges(swept: ir.Table) -> ir.Table:
    """``customer_id, currency, day, d, level_minor``: the days a run of paying days in
    one currency opens (``d = 1``; ``level_minor`` its first MRR) or closes (``d = -1``).
    A currency's runs never touch (the events net per day), so the runs are a few rows
    per customer where the events are one per change."""
    opens = (swept.level_minor == swept.d) & (swept.level_minor > 0)
    edges = swept.filter(opens | (swept.level_minor == 0))
    return edges.select(
        "customer_id",
        "currency",
        "day",
        "level_minor",
        d=ibis.ifelse(edges.level_minor == 0, -1, 1).cast("int64"),
    )


def _spells(events: ir.Table) -> ir.Table:
    """``customer_id, start_date, end_date``: maximal runs of days covered by a paying row.

    ``events`` are the runs' edges (``_edges``: +1 where a currency's run opens, -1 where
    it closes), so the sum of a customer's changes up to a day (a count of currencies
    paying, not an amount) is > 0 exactly on the days some paying row covers. One sort
    of the edges by customer and day gives, on each day's last edge, that total after
    the day and the day's net change; the days where the total leaves 0 (a spell opens)
    or returns to 0 (it closes) alternate, so a spell ends at the next such day. Runs of
    two currencies that touch (end = start) net out on that day and do not split a
    spell."""
    ordered = ibis.window(group_by=events.customer_id, order_by=events.day)
    upto = ibis.window(group_by=events.customer_id, order_by=events.day, range=(None, 0))
    same_day = ibis.window(group_by=events.customer_id, order_by=events.day, range=(0, 0))
    swept = events.mutate(
        total=events.d.sum().over(upto),
        net=events.d.sum().over(same_day),
        next_day=events.day.lead().over(ordered),
    )
    last_of_day = swept.next_day.isnull() | (swept.next_day != swept.day)
    opens = (swept.total > 0) & (swept.total == swept.net)
    edges = swept.filter(last_of_day & (opens | (swept.total == 0))).mutate(opens=opens)
    after = ibis.window(group_by=edges.customer_id, order_by=edges.day)
    marked = edges.mutate(end_date=edges.day.lead().over(after))
    spells = marked.filter(marked.opens)
    return spells.select("customer_id", start_date=spells.day, end_date=spells.end_date)


def _first_currency(subscriptions: ir.Table) -> ir.Table:
    """``customer_id, first_currency``: the currency of the earliest row (by
    ``start_date``, then ``id``): its day first, then the least id on that day (a small
    ordered aggregate; one over every row is many times slower on DuckDB)."""
    day0 = subscriptions.group_by("customer_id").agg(day0=subscriptions.start_date.min())
    earliest = subscriptions.join(
        day0,
        [
            subscriptions.customer_id == day0.customer_id,
            subscriptions.start_date == day0.day0,
        ],
    )
    return earliest.group_by("customer_id").agg(
        first_currency=earliest.currency.argmin(earliest.id)
    )


def _paid(edges: ir.Table) -> ir.Table:
    """Per customer that ever paid: the first paid day is its first run's opening, the
    paying currencies are its runs' currencies, and with one currency the MRR on that
    day is the level its first run opened with."""
    opened = edges.filter(edges.d > 0)
    return opened.group_by("customer_id").agg(
        paid_started_at=opened.day.min(),
        pay_currencies=opened.currency.nunique(),
        one_currency=opened.currency.max(),
        initial_minor=opened.level_minor.argmin(opened.day),
    )


def _facts(customers: ir.Table, first: ir.Table, paid: ir.Table) -> ir.Table:
    base = customers.select("id", "currency", "country")
    joined = base.left_join(first, base.id == first.customer_id).left_join(
        paid, base.id == paid.customer_id
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
        **stored_period_columns(joined, ("0",)),
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
        week0=joined.week0,
        month0=joined.month0,
        **stored_period_columns(joined, ("start", "end")),
    )


def mark_stale(warehouse: Warehouse, scope: Scope, customer_ids: ir.Table | None) -> None:
    """Record that the derived rows of ``customer_ids`` (``None``: the whole scope) no
    longer match the data. Call it in the transaction that changed the data."""
    if customer_ids is None:
        whole = pa.table(
            {
                "org_id": pa.array([scope.org_id], pa.string()),
                "livemode": pa.array([scope.livemode], pa.bool_()),
                "customer_id": pa.nulls(1, pa.string()),
            }
        )
        warehouse.insert_arrow(DERIVED_PENDING, whole)
        return
    warehouse.insert_expr(
        DERIVED_PENDING,
        customer_ids.select(
            org_id=ibis.literal(scope.org_id),
            livemode=ibis.literal(scope.livemode),
            customer_id=customer_ids.customer_id.cast("string"),
        ),
    )


def catch_up(warehouse: Warehouse, scope: Scope) -> bool:
    """Refresh what ``mark_stale`` recorded for ``scope``, in one transaction of its own
    (the recorded rows go with it). Returns whether there was anything to do.

    Concurrent callers are serialized: by the warehouse's lock in one process, and
    ``serialize_writers`` across processes (PostgreSQL), so a second caller finds the
    rows gone and returns."""
    if not stale(warehouse, scope):
        return False
    with warehouse.transaction(scope):
        warehouse.serialize_writers(DERIVED_PENDING)
        pending = scoped(warehouse, DERIVED_PENDING, scope)
        found = warehouse.to_pyarrow(
            pending.aggregate(n=pending.count(), whole=pending.customer_id.isnull().any())
        ).to_pylist()[0]
        if not found["n"]:
            return False
        if found["whole"]:
            refresh(warehouse, scope)
        else:
            name = f"_derived_pending_{uuid.uuid4().hex[:12]}"
            ids = warehouse.create_temp_table(name, pending.select("customer_id").distinct())
            refresh(warehouse, scope, ids)
            warehouse.drop_temp_table(name)
        warehouse.delete_scope(DERIVED_PENDING, scope)
    warehouse.refresh_statistics(*DERIVED_TABLES)
    return True


def catch_up_everywhere(warehouse: Warehouse) -> int:
    """``catch_up`` for every scope with recorded changes (a server starting after a
    process died between an import's commit and its catch-up); how many were refreshed."""
    table = warehouse.table(DERIVED_PENDING)
    scopes = warehouse.to_pyarrow(table.select("org_id", "livemode").distinct()).to_pylist()
    return sum(catch_up(warehouse, Scope(s["org_id"], s["livemode"])) for s in scopes)


def stale(warehouse: Warehouse, scope: Scope) -> bool:
    """Whether ``scope`` has derived rows waiting for ``catch_up``: one small read, its
    SQL compiled once per scope (every report asks)."""

    def build() -> ir.Expr:
        pending = scoped(warehouse, DERIVED_PENDING, scope)
        return pending.limit(1).count().name("n")

    rows = run_cached(warehouse, ("derived_pending", scope.org_id, scope.livemode), build)
    return bool(rows[0]["n"])


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
    token = uuid.uuid4().hex[:12]
    made: list[str] = []

    def temp(label: str, expr: ir.Table) -> ir.Table:
        name = f"_derived_{label}_{token}"
        table = warehouse.create_temp_table(name, expr)
        made.append(name)
        return table

    with warehouse._lock:
        try:
            _fill(warehouse, scope, customer_ids, customers, subscriptions, temp)
        except BaseException:
            for name in made:  # an aborted transaction refuses this; its rollback drops them
                with suppress(Exception):
                    warehouse.drop_temp_table(name)
            raise
        for name in made:
            warehouse.drop_temp_table(name)


def per_customer_rows(
    customers: ir.Table,
    subscriptions: ir.Table,
    step: Callable[[str, ir.Table], ir.Table] = lambda _label, expr: expr,
) -> dict[str, ir.Table]:
    """The rows of ``PER_CUSTOMER_TABLES`` (without ``org_id`` and ``livemode``) of the
    given customers and their subscriptions. ``step`` may materialize each intermediate
    result (``refresh``: temp tables); by default the expressions nest."""
    paying = subscriptions.filter(subscriptions.mrr_minor > 0)
    swept = step("swept", _sweep(_events(paying)))
    edges = step("edges", _edges(swept))
    first = step("first", _first_currency(subscriptions))
    paid = step("paid", _paid(edges))
    facts = step("facts", _facts(customers, first, paid))
    carried = facts.filter(facts.paid_started_at.notnull()).select(*_FACT_COLUMNS)
    spells = _spells(edges).join(carried, "customer_id")
    segments = _segment_rows(_segments(swept), carried)
    return {
        CUSTOMER_FACTS: facts,
        PAID_SPELLS: spells.select(
            *_FACT_COLUMNS[:4],
            "start_date",
            "end_date",
            "week0",
            "month0",
            **stored_period_columns(spells, ("start", "end")),
        ),
        MRR_SEGMENTS: segments,
        SEVERAL_PAIRS: _several_pairs(segments),
    }


def _fill(
    warehouse: Warehouse,
    scope: Scope,
    customer_ids: ir.Table | None,
    customers: ir.Table,
    subscriptions: ir.Table,
    temp: Callable[[str, ir.Table], ir.Table],
) -> None:
    # each step its own statement: under the import's memory cap, one query holding
    # several large hash tables at once spills and is several times slower
    rows = per_customer_rows(customers, subscriptions, temp)
    before = None
    if customer_ids is not None:  # the touched customers' changes, taken off below
        segments, spells = _of(warehouse, scope, customer_ids)
        before = temp("before", typed_deltas(summed_deltas(delta_rows(segments, spells)), -1))
    for name in PER_CUSTOMER_TABLES:
        if customer_ids is None:
            warehouse.delete_scope(name, scope)
        else:
            warehouse.delete_matching(name, scope, ("customer_id",), customer_ids)
        source = rows[name]
        if name == SEVERAL_PAIRS:  # from the segments just written, not derived again
            source = _several_pairs(_of(warehouse, scope, customer_ids)[0])
        insert_rows(warehouse, scope, name, source)
    segments, spells = _of(warehouse, scope, customer_ids)
    changes = typed_deltas(delta_rows(segments, spells))
    if before is not None:  # the scope's sums, minus the old changes, plus the new
        kept = typed_deltas(scoped(warehouse, COHORT_DELTAS, scope))
        changes = temp("deltas", summed_deltas(kept.union(before, changes, distinct=False)))
    warehouse.delete_scope(COHORT_DELTAS, scope)
    insert_rows(warehouse, scope, COHORT_DELTAS, summed_deltas(changes))


def _of(
    warehouse: Warehouse, scope: Scope, customer_ids: ir.Table | None
) -> tuple[ir.Table, ir.Table]:
    """The scope's segments and spells (of ``customer_ids`` only, when given)."""
    segments = scoped(warehouse, MRR_SEGMENTS, scope)
    spells = scoped(warehouse, PAID_SPELLS, scope)
    if customer_ids is not None:
        segments = segments.filter(segments.customer_id.isin(customer_ids.customer_id))
        spells = spells.filter(spells.customer_id.isin(customer_ids.customer_id))
    return segments, spells


def insert_rows(warehouse: Warehouse, scope: Scope, name: str, source: ir.Table) -> None:
    with warehouse.light_compression():
        warehouse.insert_expr(
            name,
            source.select(
                org_id=ibis.literal(scope.org_id),
                livemode=ibis.literal(scope.livemode),
                **{c: source[c] for c in source.columns},
            ),
        )
