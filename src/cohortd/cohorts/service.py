"""Cohort rules: create, update, delete (409 while an active motion uses it) and membership.

Membership is never stored: ``member_count`` and the members list are evaluated from the
definition as of the day asked (default today, UTC), so they are exact.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Protocol

import ibis
import ibis.expr.types as ir
from sqlalchemy.orm import Session

from cohortd import clock
from cohortd.api.paging import Page, PageParams, paginate_select
from cohortd.cohorts import repository
from cohortd.cohorts.models import Cohort as CohortRow
from cohortd.cohorts.schemas import (
    Cohort,
    CohortCreate,
    CohortDefinition,
    CohortType,
    CohortUpdate,
)
from cohortd.db import utcnow
from cohortd.engine import membership
from cohortd.errors import Conflict, NotFound
from cohortd.events import service as events
from cohortd.ids import new_id
from cohortd.motions import repository as motions
from cohortd.subscribers import service as subscribers
from cohortd.subscribers.schemas import Subscriber
from cohortd.warehouse import Scope, Warehouse


class Tenant(Protocol):
    """Anything naming one organization and mode: a ``Principal`` or a ``Scope``."""

    @property
    def org_id(self) -> str: ...

    @property
    def livemode(self) -> bool: ...


def _scope(tenant: Tenant) -> Scope:
    return Scope(org_id=tenant.org_id, livemode=tenant.livemode)


def get_cohort_row(session: Session, tenant: Tenant, cohort_id: str) -> CohortRow:
    """The stored cohort of this organization and mode, else 404 (also for other tenants' ids)."""
    row = repository.get_cohort(
        session, org_id=tenant.org_id, livemode=tenant.livemode, cohort_id=cohort_id
    )
    if row is None:
        raise NotFound(f"No cohort '{cohort_id}' in this mode.")
    return row


def engine_definition(row: CohortRow) -> membership.CohortDefinition:
    """The stored definition as the engine's frozen criteria."""
    return CohortDefinition.model_validate(row.definition).to_engine()


def create_cohort(session: Session, tenant: Tenant, body: CohortCreate) -> CohortRow:
    """A new custom cohort."""
    now = utcnow()
    row = CohortRow(
        id=new_id("cohort"),
        org_id=tenant.org_id,
        livemode=tenant.livemode,
        name=body.name,
        description=body.description,
        cohort_type=CohortType.custom.value,
        definition=body.definition.stored(),
        created_at=now,
        updated_at=now,
    )
    repository.add_cohort(session, row)
    _record(session, row, "cohort.created")
    return row


def update_cohort(
    session: Session, tenant: Tenant, cohort_id: str, body: CohortUpdate
) -> CohortRow:
    """Apply the given fields; a given definition replaces the old one whole."""
    row = get_cohort_row(session, tenant, cohort_id)
    given = body.model_dump(exclude_unset=True)
    if "name" in given:
        row.name = given["name"]
    if "description" in given:
        row.description = given["description"]
    if body.definition is not None and "definition" in given:
        row.definition = body.definition.stored()
    row.updated_at = utcnow()
    session.flush()
    _record(session, row, "cohort.updated")
    return row


def delete_cohort(session: Session, tenant: Tenant, cohort_id: str) -> CohortRow:
    """Delete a cohort no active motion uses; inactive motions lose their reference."""
    row = get_cohort_row(session, tenant, cohort_id)
    active = motions.active_motion_ids(
        session, org_id=tenant.org_id, livemode=tenant.livemode, cohort_ids=[cohort_id]
    )[cohort_id]
    if active:
        raise Conflict(
            f"Cohort '{cohort_id}' is used by active motions: {', '.join(active)}.",
            extra={"used_by_motions": active},
        )
    motions.detach_cohort(
        session, org_id=tenant.org_id, livemode=tenant.livemode, cohort_id=cohort_id
    )
    repository.delete_cohort(session, row)
    _record(session, row, "cohort.deleted")
    return row


def event_object(row: CohortRow) -> dict[str, Any]:
    """The cohort as events carry it: the stored definition, without evaluated
    membership (an event is about the definition; ``member_count`` is asked live)."""
    return {
        "id": row.id,
        "object": "cohort",
        "livemode": row.livemode,
        "name": row.name,
        "description": row.description,
        "cohort_type": row.cohort_type,
        "grouping_field": row.grouping_field,
        "grouping_value": row.grouping_value,
        "definition": row.definition,
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
    }


def _record(session: Session, row: CohortRow, event_type: str) -> None:
    """The cohort's event, in the write's own control-plane transaction."""
    events.record(
        session,
        org_id=row.org_id,
        livemode=row.livemode,
        draft=events.EventDraft(type=event_type, data=event_object(row)),
    )


def list_cohort_rows(
    session: Session, tenant: Tenant, page: PageParams, *, cohort_type: CohortType | None
) -> Page[CohortRow]:
    stmt = repository.cohorts_query(
        org_id=tenant.org_id,
        livemode=tenant.livemode,
        cohort_type=cohort_type.value if cohort_type else None,
    )
    return paginate_select(session, stmt, CohortRow.id, page)


def views(
    session: Session,
    warehouse: Warehouse,
    tenant: Tenant,
    rows: list[CohortRow],
    *,
    as_of: date | None = None,
) -> list[Cohort]:
    """API objects for stored cohorts: exact member counts as of ``as_of`` and the active
    motions using each (one query for all of them)."""
    day = as_of or clock.today()
    used = motions.active_motion_ids(
        session, org_id=tenant.org_id, livemode=tenant.livemode, cohort_ids=[r.id for r in rows]
    )
    return [
        Cohort(
            id=row.id,
            livemode=row.livemode,
            name=row.name,
            description=row.description,
            definition=CohortDefinition.model_validate(row.definition),
            member_count=membership.member_count(
                warehouse, _scope(tenant), engine_definition(row), day
            ),
            as_of=day.isoformat(),
            used_by_motions=used[row.id],
            cohort_type=CohortType(row.cohort_type),
            grouping_field=row.grouping_field,
            grouping_value=row.grouping_value,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )
        for row in rows
    ]


def cohort_members_table(
    session: Session,
    warehouse: Warehouse,
    principal_or_scope: Tenant,
    cohort_id: str,
    as_of: date | None = None,
) -> ir.Table:
    """An Ibis table (column ``customer_id``) of the cohort's members as of ``as_of``
    (default today, UTC). Raises ``NotFound`` for an unknown id or another tenant's."""
    row = get_cohort_row(session, principal_or_scope, cohort_id)
    day = as_of or clock.today()
    return membership.members(warehouse, _scope(principal_or_scope), engine_definition(row), day)


def grouped_members_table(
    warehouse: Warehouse, tenant: Tenant, rows: list[CohortRow], as_of: date | None = None
) -> ir.Table | None:
    """``group_id, customer_id``: the members of every cohort of ``rows`` as of ``as_of``
    (default today, UTC), ``group_id`` being the cohort's id: the relation
    ``engine.movements.cohort_movements`` batches over. None for no rows."""
    day = as_of or clock.today()
    scope = _scope(tenant)
    parts = [
        membership.members(warehouse, scope, engine_definition(row), day).select(
            group_id=ibis.literal(row.id), customer_id="customer_id"
        )
        for row in rows
    ]
    if not parts:
        return None
    combined = parts[0]
    for part in parts[1:]:
        combined = combined.union(part, distinct=False)
    return combined


def members_page(
    session: Session,
    warehouse: Warehouse,
    tenant: Tenant,
    cohort_id: str,
    page: PageParams,
    *,
    as_of: date | None = None,
) -> Page[Subscriber]:
    """A page of the cohort's members as of ``as_of``, as subscribers (shown as of today).

    Raises ``NotFound`` for an unknown id or another tenant's."""
    row = get_cohort_row(session, tenant, cohort_id)
    today = clock.today()
    return subscribers.page_of_members(
        warehouse, _scope(tenant), engine_definition(row), page, as_of=as_of or today, today=today
    )
