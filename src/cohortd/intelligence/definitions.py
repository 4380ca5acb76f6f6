"""Pillar's cohort definitions (SPEC §3): auto-generation and the definitions list.

Generated cohorts are ordinary cohorts (``cohortd.cohorts``): their membership is their
grouping, stored as a definition the membership engine evaluates — ``created_from`` /
``created_before`` for a vintage quarter, ``segments``, ``territories`` or ``owner_ids``
holding the one value. ``member_count`` is never stored: it is counted when asked (one
grouped query per kind), so "refreshing" it is exact by construction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from sqlalchemy.orm import Session

from cohortd import clock
from cohortd.cohorts.models import Cohort as CohortRow
from cohortd.cohorts.schemas import CohortDefinition, CohortType
from cohortd.cohorts.service import Tenant, engine_definition
from cohortd.db import utcnow
from cohortd.engine import membership
from cohortd.engine.groupings import Group, GroupKind, customer_groups, quarter_bounds
from cohortd.ids import new_id
from cohortd.intelligence import repository
from cohortd.warehouse import Scope, Warehouse

NAME_PREFIXES: Final = {
    GroupKind.vintage: "Vintage",
    GroupKind.segment: "Segment:",
    GroupKind.territory: "Territory:",
    GroupKind.rep: "Rep:",
}
_DEFINITION_LISTS: Final = {
    GroupKind.segment: "segments",
    GroupKind.territory: "territories",
    GroupKind.rep: "owner_ids",
}


def cohort_name(kind: GroupKind, value: str) -> str:
    """``Vintage 2025-Q3``, ``Segment: Enterprise``, ``Territory: EMEA``, ``Rep: rep_1``."""
    return f"{NAME_PREFIXES[kind]} {value}"


def generated_definition(kind: GroupKind, value: str) -> dict[str, Any]:
    """The stored definition whose members are exactly the group's."""
    if kind is GroupKind.vintage:
        start, end = quarter_bounds(value)
        return CohortDefinition(created_from=start, created_before=end).stored()
    return CohortDefinition.model_validate({_DEFINITION_LISTS[kind]: [value]}).stored()


@dataclass
class GenerationResult:
    """The seed's answer to ``POST /api/cohorts/definitions``."""

    inserted: int = 0
    updated: int = 0
    breakdown: dict[str, int] = field(default_factory=lambda: {k.value: 0 for k in GroupKind})

    def as_json(self) -> dict[str, Any]:
        return {
            "success": True,
            "total_cohorts": self.inserted + self.updated,
            "inserted": self.inserted,
            "updated": self.updated,
            "breakdown": dict(self.breakdown),
        }


def _key(kind: str, value: str | None) -> tuple[str, str]:
    # vintages are upper case labels; categories group case-insensitively
    return kind, (value or "").lower()


def _generated_rows(session: Session, tenant: Tenant) -> dict[tuple[str, str], CohortRow]:
    rows = repository.cohorts(session, org_id=tenant.org_id, livemode=tenant.livemode)
    return {
        _key(r.cohort_type, r.grouping_value): r
        for r in rows
        if r.cohort_type != CohortType.custom.value
    }


def generate(session: Session, warehouse: Warehouse, tenant: Tenant) -> GenerationResult:
    """Upsert one cohort per group on (org, mode, type, field, value); keep emptied ones."""
    scope = Scope(org_id=tenant.org_id, livemode=tenant.livemode)
    existing = _generated_rows(session, tenant)
    result = GenerationResult()
    now = utcnow()
    for group in customer_groups(warehouse, scope):
        row = existing.pop(_key(group.kind.value, group.key), None)
        if row is None:
            _insert(session, tenant, group)
            result.inserted += 1
        else:
            row.updated_at = now
            result.updated += 1
        result.breakdown[group.kind.value] += 1
    for row in existing.values():  # groups that emptied: kept, their count is now 0
        row.updated_at = now
        result.updated += 1
        result.breakdown[row.cohort_type] += 1
    session.flush()
    return result


def _insert(session: Session, tenant: Tenant, group: Group) -> None:
    now = utcnow()
    repository.add(
        session,
        CohortRow(
            id=new_id("cohort"),
            org_id=tenant.org_id,
            livemode=tenant.livemode,
            name=cohort_name(group.kind, group.value),
            description=None,
            cohort_type=group.kind.value,
            grouping_field=group.kind.field,
            grouping_value=group.value,
            definition=generated_definition(group.kind, group.value),
            created_at=now,
            updated_at=now,
        ),
    )


def member_counts(warehouse: Warehouse, tenant: Tenant, rows: list[CohortRow]) -> dict[str, int]:
    """Exact member counts as of today: grouped counts for untouched generated cohorts,
    the membership engine for the rest (custom ones, or generated ones edited since)."""
    scope = Scope(org_id=tenant.org_id, livemode=tenant.livemode)
    grouped = None
    counts: dict[str, int] = {}
    for row in rows:
        kind = _kind(row)
        if (
            kind is not None
            and row.grouping_value is not None
            and (row.definition == generated_definition(kind, row.grouping_value))
        ):
            if grouped is None:
                grouped = {
                    _key(g.kind.value, g.key): g.members for g in customer_groups(warehouse, scope)
                }
            counts[row.id] = grouped.get(_key(row.cohort_type, row.grouping_value), 0)
        else:
            day = clock.today()
            counts[row.id] = membership.member_count(warehouse, scope, engine_definition(row), day)
    return counts


def _kind(row: CohortRow) -> GroupKind | None:
    try:
        return GroupKind(row.cohort_type)
    except ValueError:
        return None


def definitions(
    session: Session, warehouse: Warehouse, tenant: Tenant, *, cohort_type: CohortType | None
) -> dict[str, Any]:
    """``{definitions, count}`` with the seed's fields, oldest first."""
    rows = repository.cohorts(
        session,
        org_id=tenant.org_id,
        livemode=tenant.livemode,
        cohort_type=cohort_type.value if cohort_type else None,
    )
    counts = member_counts(warehouse, tenant, rows)
    listed = [
        {
            "id": row.id,
            "org_id": row.org_id,
            "name": row.name,
            "cohort_type": row.cohort_type,
            "grouping_field": row.grouping_field,
            "grouping_value": row.grouping_value,
            "filter_criteria": row.definition if row.cohort_type == CohortType.custom else None,
            "member_count": counts[row.id],
        }
        for row in rows
    ]
    return {"definitions": listed, "count": len(listed)}
