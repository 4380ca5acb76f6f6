"""Cohort membership (SPEC §3): a definition evaluated as one Ibis predicate as of a day.

Fields combine with AND; a list matches ANY of its values; ``tags_include`` needs ALL of
its tags and ``tags_exclude`` rejects ANY. An absent field or an empty list constrains
nothing, so an empty definition matches every customer.

Text matching is whole-value and case-insensitive for every list (categories, countries,
currencies, owners, plans, tags), as the report's filters are (SPEC §2). A customer
missing the field never matches a list on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import partial
from typing import Final

import ibis
import ibis.expr.types as ir

from cohortd import clock
from cohortd.engine.compiled import run_cached
from cohortd.engine.customer_state import customer_state, customer_state_with_history
from cohortd.warehouse import Scope, Warehouse, scoped
from cohortd.warehouse.tables import CUSTOMERS, SUBSCRIPTIONS

# Definition field → customers column, for the lists matched on the customer's own fields.
CATEGORY_LISTS: Final = {
    "countries": "country",
    "currencies": "currency",
    "industries": "industry",
    "channels": "channel",
    "sizes": "size",
    "segments": "segment",
    "territories": "territory",
    "owner_ids": "owner_id",
}


@dataclass(frozen=True, slots=True)
class CohortDefinition:
    """Membership criteria: the Recurr seed's fields plus SPEC §3's extensions.

    ``created_from`` / ``created_before`` bound ``created_at`` half-open, naive UTC.
    """

    status: tuple[str, ...] = ()
    tenure_days_min: int | None = None
    tenure_days_max: int | None = None
    plan_ids: tuple[str, ...] = ()
    tags_include: tuple[str, ...] = ()
    tags_exclude: tuple[str, ...] = ()
    engagement_score_min: float | None = None
    countries: tuple[str, ...] = ()
    currencies: tuple[str, ...] = ()
    industries: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    sizes: tuple[str, ...] = ()
    segments: tuple[str, ...] = ()
    territories: tuple[str, ...] = ()
    owner_ids: tuple[str, ...] = ()
    created_from: datetime | None = None
    created_before: datetime | None = None

    @property
    def state_columns(self) -> frozenset[str]:
        """The ``customer_state`` columns the criteria read (status, plan, tenure)."""
        needed: set[str] = set()
        if self.status:
            needed.add("status")
        if self.plan_ids:
            needed.add("plan_id")
        if self.tenure_days_min is not None or self.tenure_days_max is not None:
            needed.add("tenure_days")
        return frozenset(needed)


def lowered(values: Sequence[str]) -> list[str]:
    """A list's values as they are matched: lower-cased, distinct, sorted."""
    return sorted({value.lower() for value in values})


def _any_of(column: ir.StringValue, values: Sequence[str]) -> ir.BooleanValue:
    """Whole-value, case-insensitive; a null column never matches."""
    return column.notnull() & column.lower().isin(lowered(values))


def _has_tag(tags: ir.ArrayValue, tag: str) -> ir.BooleanValue:
    """True when ``tags`` holds ``tag`` (case-insensitive); false, not null, for no tags."""
    lowered = tags.map(lambda value: value.lower())
    return lowered.contains(tag.lower()).fill_null(False)


def customer_predicate(customers: ir.Table, definition: CohortDefinition) -> ir.BooleanValue:
    """The criteria that read only the customer's own row, ANDed (true when none apply)."""
    clauses: list[ir.BooleanValue] = []
    for field_name, column in CATEGORY_LISTS.items():
        values: tuple[str, ...] = getattr(definition, field_name)
        if values:
            clauses.append(_any_of(customers[column], values))
    clauses.extend(_has_tag(customers.tags, tag) for tag in definition.tags_include)
    clauses.extend(~_has_tag(customers.tags, tag) for tag in definition.tags_exclude)
    if definition.engagement_score_min is not None:
        score = customers.engagement_score
        clauses.append(score.notnull() & (score >= definition.engagement_score_min))
    if definition.created_from is not None:
        clauses.append(customers.created_at >= definition.created_from)
    if definition.created_before is not None:
        clauses.append(customers.created_at < definition.created_before)
    return _all(clauses)


def state_predicate(state: ir.Table, definition: CohortDefinition) -> ir.BooleanValue:
    """The criteria on the state as of the day: status, plan and tenure."""
    clauses: list[ir.BooleanValue] = []
    if definition.status:
        clauses.append(_any_of(state.status, definition.status))
    if definition.plan_ids:
        clauses.append(_any_of(state.plan_id, definition.plan_ids))
    # A customer that had not paid by the day has a null tenure: it fails any bound.
    if definition.tenure_days_min is not None:
        clauses.append(
            state.tenure_days.notnull() & (state.tenure_days >= definition.tenure_days_min)
        )
    if definition.tenure_days_max is not None:
        clauses.append(
            state.tenure_days.notnull() & (state.tenure_days <= definition.tenure_days_max)
        )
    return _all(clauses)


def _all(clauses: list[ir.BooleanValue]) -> ir.BooleanValue:
    result: ir.BooleanValue = ibis.literal(True)
    for clause in clauses:
        result = result & clause
    return result


def needs_history(definition: CohortDefinition, *, as_of: date, today: date) -> bool:
    """True when only a customer with a subscription row started by ``as_of`` can match.

    A customer without one has no derived status, plan or tenure: it fails any tenure
    bound, and a status or plan list unless a given value applies (``as_of`` is today).
    """
    if definition.tenure_days_min is not None or definition.tenure_days_max is not None:
        return True
    return bool(definition.state_columns) and as_of != today


def matching_customers(
    customers: ir.Table,
    subscriptions: ir.Table,
    definition: CohortDefinition,
    *,
    as_of: date,
    today: date,
) -> ir.Table:
    """``customer_id``: the customers meeting ``definition`` as of ``as_of``.

    The customer-field criteria filter first; the subscriptions are read only when a
    criterion needs the state, and then only the candidates' rows (one grouped pass).
    """
    own = customers.filter(customer_predicate(customers, definition))
    if not definition.state_columns:
        return own.select(customer_id=own.id)
    columns = definition.state_columns
    statuses = definition.status  # the only statuses the predicate tells apart
    if needs_history(definition, as_of=as_of, today=today):
        state = customer_state_with_history(
            own, customers, subscriptions, as_of, today=today, columns=columns, statuses=statuses
        )
    else:
        state = customer_state(
            own, subscriptions, as_of, today=today, columns=columns, statuses=statuses
        )
    return state.filter(state_predicate(state, definition)).select("customer_id")


def members(
    warehouse: Warehouse,
    scope: Scope,
    definition: CohortDefinition,
    as_of: date,
    *,
    today: date | None = None,
) -> ir.Table:
    """The members of ``definition`` in ``scope`` as of ``as_of`` (column ``customer_id``).

    ``today`` (default: ``as_of``'s UTC today) decides when given status/plan apply.
    """
    return matching_customers(
        scoped(warehouse, CUSTOMERS, scope),
        scoped(warehouse, SUBSCRIPTIONS, scope),
        definition,
        as_of=as_of,
        today=today if today is not None else clock.today(),
    )


def member_count(
    warehouse: Warehouse,
    scope: Scope,
    definition: CohortDefinition,
    as_of: date,
    *,
    today: date | None = None,
) -> int:
    """The exact number of members as of ``as_of``."""
    day = today if today is not None else clock.today()

    def build() -> ir.Expr:
        return members(warehouse, scope, definition, as_of, today=day).count()

    counted = run_cached(warehouse, ("member_count", scope, definition, as_of, day), build)
    return int(next(iter(counted[0].values())))


def first_member_ids(
    warehouse: Warehouse,
    scope: Scope,
    definition: CohortDefinition,
    as_of: date,
    *,
    today: date,
    limit: int,
    after: str | None = None,
    before: str | None = None,
    chunk: int | None = None,
) -> list[str]:
    """Up to ``limit`` member ids in id order after ``after`` (or, given ``before``, the
    ones before it, nearest first), without evaluating the whole membership.

    The customers passing the customer-field criteria are walked in id order in chunks
    (the first of ``chunk`` customers, default ``max(2 * limit, 256)``, then each four
    times larger); the state is evaluated for a chunk's customers only, and the walk
    stops once ``limit`` members are found or the customers run out. A chunk answers its
    members (at most the ones still needed) and its last customer, never the whole
    chunk. Its query is compiled once per cursor and size (``engine.compiled``), so the
    first page of a cohort asked again costs only its queries.
    """
    found: list[str] = []
    size = chunk if chunk is not None else max(2 * limit, FIRST_CHUNK)
    cursor_after, cursor_before = after, before
    while len(found) < limit:
        walk = _Walk(cursor_after, cursor_before, size, limit - len(found))
        key = ("member_chunk", scope, definition, as_of, today, walk)
        build = partial(_chunk, warehouse, scope, definition, as_of, today, walk)
        rows = run_cached(warehouse, key, build)
        found.extend(row["customer_id"] for row in rows if row["member"])
        if not rows or rows[0]["chunk_size"] < size:
            break  # the customers ran out
        last = rows[0]["chunk_last"]
        cursor_after, cursor_before = (None, last) if before is not None else (last, None)
        size = min(size * 4, MAX_CHUNK)
    return found[:limit]


FIRST_CHUNK: Final = 256
MAX_CHUNK: Final = 1 << 20


@dataclass(frozen=True, slots=True)
class _Walk:
    """One step of ``first_member_ids``: ``size`` customers past a cursor, ``wanted``
    members at most."""

    after: str | None
    before: str | None
    size: int
    wanted: int


def _chunk(
    warehouse: Warehouse,
    scope: Scope,
    definition: CohortDefinition,
    as_of: date,
    today: date,
    walk: _Walk,
) -> ir.Table:
    """``customer_id, member, chunk_last, chunk_size`` for the next ``walk.size``
    customers passing the customer-field criteria (by id: ascending after ``after``,
    descending before ``before``): their first ``walk.wanted`` members, and the chunk's
    last customer (member or not) so that the walk can go on from it."""
    customers = scoped(warehouse, CUSTOMERS, scope)
    own = customers.filter(customer_predicate(customers, definition))
    if walk.after is not None:
        own = own.filter(own.id > walk.after)
    if walk.before is not None:
        own = own.filter(own.id < walk.before)
    backwards = walk.before is not None
    own = own.order_by(own.id.desc() if backwards else own.id.asc()).limit(walk.size)
    if not definition.state_columns:
        marked = own.select(customer_id=own.id, member=ibis.literal(True))
    else:
        subscriptions = scoped(warehouse, SUBSCRIPTIONS, scope)
        state = customer_state(
            own,
            subscriptions,
            as_of,
            today=today,
            columns=definition.state_columns,
            statuses=definition.status,
        )
        member = state_predicate(state, definition).fill_null(False)
        marked = state.select("customer_id", member=member)
    whole = ibis.window()  # one row per customer of the chunk: a window over all of them
    last = marked.customer_id.min() if backwards else marked.customer_id.max()
    marked = marked.mutate(
        chunk_last=last.over(whole), chunk_size=marked.customer_id.count().over(whole)
    )
    marked = marked.filter(marked.member | (marked.customer_id == marked.chunk_last))
    order = marked.customer_id.desc() if backwards else marked.customer_id.asc()
    return marked.order_by(order).limit(walk.wanted + 1)
