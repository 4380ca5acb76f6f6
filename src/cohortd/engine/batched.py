"""Many cohorts at once: one (cohort_id, customer_id) relation and what is read through it.

``members_by_cohort`` evaluates every definition of an organization in one query. The
definitions of one customer field's values (a territory, a rep: most generated cohorts)
are one join per field with a small table of (cohort, value), and those of a sign-up
range alone one range join, so a run's 140-odd auto cohorts cost a few scans of the
customers, not one each. Any other definition filters the customers table, and its state
criteria (status, plan, tenure) read one ``customer_state`` computed once for all
customers with every column any definition needs. ``member_relation`` keeps that
relation as a session-local table for a run's later steps:

- ``snapshots_by_cohort``: SPEC §4 snapshots of every cohort over the same periods. The
  per-customer work (MRR on the measuring days, s/e pairs, movements) is done once for
  the union of the members; only the sums are grouped by cohort. Each cohort's exact
  values come from the same ``engine.snapshots.assemble`` as a single cohort's.
- ``scores_by_cohort``: today's average health and risk scores per cohort.
- ``ids_by_cohort``: each cohort's sorted member ids.

A cohort without members is absent from the relation; the readers answer it as empty.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import date, datetime
from typing import Any, Final

import ibis
import ibis.expr.types as ir

from cohortd.engine.customer_state import CustomerStatus, customer_state
from cohortd.engine.membership import (
    CATEGORY_LISTS,
    CohortDefinition,
    customer_predicate,
    lowered,
    state_predicate,
)
from cohortd.engine.movement_model import period_windows
from cohortd.engine.movements import cohort_movements
from cohortd.engine.scores import average, score_sums
from cohortd.engine.snapshots import (
    PeriodSnapshot,
    Scores,
    SnapshotQuery,
    _signed_up_by,
    from_movements,
)
from cohortd.warehouse import Scope, Warehouse, scoped
from cohortd.warehouse.tables import CUSTOMERS, SUBSCRIPTIONS


def state_columns(definitions: Sequence[tuple[str, CohortDefinition]]) -> frozenset[str]:
    """Every ``customer_state`` column some definition reads."""
    needed: set[str] = set()
    for _, definition in definitions:
        needed |= definition.state_columns
    return frozenset(needed)


def members_by_cohort(
    customers: ir.Table,
    subscriptions: ir.Table,
    definitions: Sequence[tuple[str, CohortDefinition]],
    *,
    as_of: date,
    today: date,
    state: ir.Table | None = None,
) -> ir.Table:
    """``cohort_id, customer_id``: the members of every ``(cohort_id, definition)`` as of
    ``as_of``, in one query (``state``: ``customer_state`` of every customer, when the
    caller materialized it already).

    The state is computed with every status told apart, so a status list matches exactly
    the customers ``engine.membership.members`` finds: a derived status outside the list,
    a customer without subscription rows (no status, plan or tenure but a given one that
    applies today) and one that never paid (null tenure) fail alike.
    """
    columns = state_columns(definitions)
    if columns and state is None:
        state = customer_state(
            customers, subscriptions, as_of, today=today, columns=columns,
            statuses=tuple(CustomerStatus),
        )  # fmt: skip
    wide: ir.Table | None = None
    if state is not None:
        own = customers.drop("status", "plan_id")
        wide = own.join(state, own.id == state.customer_id)
    by_column, ranges, general = _by_shape(definitions)
    parts: list[ir.Table] = [
        _category_members(customers, column, found) for column, found in by_column.items()
    ]
    if ranges:
        parts.append(_created_members(customers, ranges))
    for cohort_id, definition in general:
        label = ibis.literal(cohort_id, "string")
        if definition.state_columns and wide is not None:
            found = wide.filter(
                customer_predicate(wide, definition) & state_predicate(wide, definition)
            )
            parts.append(found.select(cohort_id=label, customer_id=found.id.cast("string")))
        else:
            found = customers.filter(customer_predicate(customers, definition))
            parts.append(found.select(cohort_id=label, customer_id=found.id.cast("string")))
    if not parts:
        return ibis.memtable(
            {"cohort_id": [], "customer_id": []},
            schema={"cohort_id": "string", "customer_id": "string"},
        )
    return ibis.union(*parts, distinct=False)


_EMPTY: Final = CohortDefinition()
_EARLIEST: Final = datetime(1, 1, 1)
_LATEST: Final = datetime(9999, 12, 31)


def _by_shape(
    definitions: Sequence[tuple[str, CohortDefinition]],
) -> tuple[
    dict[str, list[tuple[str, tuple[str, ...]]]],
    list[tuple[str, datetime, datetime]],
    list[tuple[str, CohortDefinition]],
]:
    """Definitions of one customer field's values (``owner_ids=("rep_010",)``: most
    generated cohorts) by column; those of a sign-up range alone; and the others."""
    by_column: dict[str, list[tuple[str, tuple[str, ...]]]] = defaultdict(list)
    ranges: list[tuple[str, datetime, datetime]] = []
    general: list[tuple[str, CohortDefinition]] = []
    for cohort_id, definition in definitions:
        lists = [(f, getattr(definition, f)) for f in CATEGORY_LISTS if getattr(definition, f)]
        cleared: dict[str, Any] = {lists[0][0]: ()} if len(lists) == 1 else {}
        if cleared and replace(definition, **cleared) == _EMPTY:
            field_name, values = lists[0]
            by_column[CATEGORY_LISTS[field_name]].append((cohort_id, values))
        elif definition != _EMPTY and (
            replace(definition, created_from=None, created_before=None) == _EMPTY
        ):
            ranges.append(
                (
                    cohort_id,
                    definition.created_from or _EARLIEST,
                    definition.created_before or _LATEST,
                )
            )
        else:
            general.append((cohort_id, definition))
    return by_column, ranges, general


def _category_members(
    customers: ir.Table, column: str, found: list[tuple[str, tuple[str, ...]]]
) -> ir.Table:
    """The members of definitions on ``column`` alone: one join with their values,
    whole and case-insensitive as ``membership.customer_predicate`` matches them (a
    customer matches one value of a definition at most: the values are distinct)."""
    pairs = [(cohort_id, value) for cohort_id, values in found for value in lowered(values)]
    wanted = ibis.memtable(
        {"cohort_id": [c for c, _ in pairs], "value": [v for _, v in pairs]},
        schema={"cohort_id": "string", "value": "string"},
    )
    keyed = customers.select(customer_id=customers.id.cast("string"), key=customers[column].lower())
    joined = keyed.join(wanted, keyed.key == wanted.value)
    return joined.select(cohort_id=joined.cohort_id, customer_id=joined.customer_id)


def _created_members(customers: ir.Table, ranges: list[tuple[str, datetime, datetime]]) -> ir.Table:
    """The members of definitions of a sign-up range alone (half-open, naive UTC)."""
    wanted = ibis.memtable(
        {
            "cohort_id": [c for c, _, _ in ranges],
            "low": [low for _, low, _ in ranges],
            "high": [high for _, _, high in ranges],
        },
        schema={"cohort_id": "string", "low": "timestamp", "high": "timestamp"},
    )
    keyed = customers.select(customer_id=customers.id.cast("string"), at=customers.created_at)
    joined = keyed.join(wanted, [keyed.at >= wanted.low, keyed.at < wanted.high])
    return joined.select(cohort_id=joined.cohort_id, customer_id=joined.customer_id)


@contextmanager
def member_relation(
    warehouse: Warehouse,
    scope: Scope,
    definitions: Sequence[tuple[str, CohortDefinition]],
    *,
    as_of: date,
    today: date,
) -> Iterator[ir.Table]:
    """``members_by_cohort`` for ``scope``, kept in a session-local table while the block
    runs (the state, when a definition needs one, is kept too: read once)."""
    customers = scoped(warehouse, CUSTOMERS, scope)
    subscriptions = scoped(warehouse, SUBSCRIPTIONS, scope)
    token = uuid.uuid4().hex
    names = [f"_cohort_state_{token}", f"_cohort_members_{token}"]
    try:
        state = None
        columns = state_columns(definitions)
        if columns:
            state = warehouse.create_temp_table(
                names[0],
                customer_state(
                    customers, subscriptions, as_of, today=today, columns=columns,
                    statuses=tuple(CustomerStatus),
                ),
            )  # fmt: skip
        relation = members_by_cohort(
            customers, subscriptions, definitions, as_of=as_of, today=today, state=state
        )
        yield warehouse.create_temp_table(names[1], relation)
    finally:
        for name in names:
            warehouse.drop_temp_table(name)


def ids_by_cohort(warehouse: Warehouse, relation: ir.Table) -> dict[str, list[str]]:
    """Each cohort's member ids, sorted: one list per cohort, each sorted by the database
    as it aggregates (sorting every pair at once costs twice as much at 1M customers) and
    checked in Python (``list.sort`` of a sorted list is one pass; a backend that does
    not keep the order is sorted here)."""
    order = relation.customer_id if warehouse.ordered_collect else None
    lists = relation.group_by("cohort_id").agg(ids=relation.customer_id.collect(order_by=order))
    rows = warehouse.to_pyarrow(lists)
    found: dict[str, list[str]] = {}
    for cohort_id, ids in zip(
        rows.column("cohort_id").to_pylist(), rows.column("ids").to_pylist(), strict=True
    ):
        ids.sort()
        found[cohort_id] = ids
    return found


def scores_by_cohort(warehouse: Warehouse, scope: Scope, relation: ir.Table) -> dict[str, Scores]:
    """Today's average health and risk scores per cohort (customers without a score are
    left out of that average)."""
    customers = scoped(warehouse, CUSTOMERS, scope)
    rows = warehouse.to_pyarrow(score_sums(relation, customers, ["cohort_id"])).to_pylist()
    return {
        r["cohort_id"]: Scores(
            health=average(r["health_sum"], r["health_n"]),
            risk=average(r["risk_sum"], r["risk_n"]),
        )
        for r in rows
    }


def snapshots_by_cohort(
    warehouse: Warehouse,
    scope: Scope,
    relation: ir.Table,
    cohort_ids: Sequence[str],
    query: SnapshotQuery,
) -> dict[str, list[PeriodSnapshot]]:
    """``engine.snapshots.snapshot_series`` (without scores) of every cohort of
    ``cohort_ids`` over ``query``'s periods, the members read from ``relation``: one
    batched movements computation (``engine.movements``) for all of them.

    Raises ``UnknownCurrency`` for a currency without rates."""
    grouped = relation.select(group_id=relation.cohort_id, customer_id=relation.customer_id)
    windows = period_windows(
        query.interval, query.first_period, query.last_period, today=query.today
    )
    table = cohort_movements(
        warehouse,
        scope,
        members=grouped,
        periods=windows,
        currency=query.base_currency,
        shared_members=True,
    )
    customers = scoped(warehouse, CUSTOMERS, scope)
    signed = relation.join(customers, relation.customer_id == customers.id).select(
        "cohort_id", signed_up=customers.created_at.date()
    )
    counted = signed.group_by(["cohort_id", "signed_up"]).agg(n=signed.count())
    signups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in warehouse.to_pyarrow(counted).to_pylist():
        signups[row["cohort_id"]].append(row)
    return {
        c: [
            from_movements(moved, member_count=_signed_up_by(signups[c], moved.window.end))
            for moved in table.series(c)
        ]
        for c in cohort_ids
    }


def relation_of(relation: ir.Table, cohort_id: str) -> ir.Table:
    """One cohort's members (``customer_id``) out of the relation."""
    return relation.filter(relation.cohort_id == cohort_id).select("customer_id")


__all__ = [
    "ids_by_cohort",
    "member_relation",
    "members_by_cohort",
    "relation_of",
    "scores_by_cohort",
    "snapshots_by_cohort",
]
