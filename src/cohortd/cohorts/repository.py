"""Every control-plane statement about cohorts."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from cohortd.cohorts.models import Cohort


def get_cohort(session: Session, *, org_id: str, livemode: bool, cohort_id: str) -> Cohort | None:
    """The cohort with this id in this organization and mode, else None."""
    return session.scalars(
        select(Cohort).where(
            Cohort.id == cohort_id, Cohort.org_id == org_id, Cohort.livemode == livemode
        )
    ).first()


def cohorts_query(*, org_id: str, livemode: bool, cohort_type: str | None = None) -> Select[Any]:
    """The cohorts of one organization and mode, optionally of one type (for paging)."""
    stmt = select(Cohort).where(Cohort.org_id == org_id, Cohort.livemode == livemode)
    if cohort_type is not None:
        stmt = stmt.where(Cohort.cohort_type == cohort_type)
    return stmt


def add_cohort(session: Session, cohort: Cohort) -> None:
    session.add(cohort)
    session.flush()


def delete_cohort(session: Session, cohort: Cohort) -> None:
    session.delete(cohort)
    session.flush()
