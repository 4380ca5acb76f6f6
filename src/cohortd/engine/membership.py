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
from datetime import UTC, date, datetime
from typing import Final

import ibis
import ibis.expr.types as ir

from cohortd.engine.customer_state import customer_state
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


def _lowered(values: Sequence[str]) -> list[str]:
    return sorted({value.lower() for value in values})


def _any_of(column: ir.StringValue, values: Sequence[str]) -> ir.BooleanValue:
    """Whole-value, case-insensitive; a null column never matches."""
    return column.notnull() & column.lower().isin(_lowered(values))


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


def matching_customers(
    customers: ir.Table,
    subscriptions: ir.Table,
    definition: CohortDefinition,
    *,
    as_of: date,
    today: date,
) -> ir.Table:
    """``customer_id``: the customers meeting ``definition`` as of ``as_of``.

    The state join is made only when a criterion needs it, so a definition on the
    customers' own fields costs one filtered scan.
    """
    own = customers.filter(customer_predicate(customers, definition))
    if not definition.state_columns:
        return own.select(customer_id=own.id)
    state = customer_state(own, subscriptions, as_of, today=today, columns=definition.state_columns)
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
        today=today if today is not None else utc_today(),
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
    table = members(warehouse, scope, definition, as_of, today=today)
    return int(warehouse.execute(table.count()))


def utc_today() -> date:
    """Today's date in UTC: the default ``as_of``."""
    return datetime.now(UTC).date()
