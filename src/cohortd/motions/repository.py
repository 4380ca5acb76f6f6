"""Every control-plane statement about motions."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session

from cohortd.motions.models import Motion, MotionStatus


def get_motion(session: Session, *, org_id: str, livemode: bool, motion_id: str) -> Motion | None:
    return session.scalars(
        select(Motion).where(
            Motion.id == motion_id, Motion.org_id == org_id, Motion.livemode == livemode
        )
    ).first()


def motions_query(
    *,
    org_id: str,
    livemode: bool,
    cohort_id: str | None = None,
    status: str | None = None,
) -> Select[Any]:
    stmt = select(Motion).where(Motion.org_id == org_id, Motion.livemode == livemode)
    if cohort_id is not None:
        stmt = stmt.where(Motion.cohort_id == cohort_id)
    if status is not None:
        stmt = stmt.where(Motion.status == status)
    return stmt


def active_motion_ids(
    session: Session, *, org_id: str, livemode: bool, cohort_ids: Iterable[str]
) -> dict[str, list[str]]:
    """cohort id → ids of the active motions that reference it (ordered by id)."""
    wanted = list(cohort_ids)
    found: dict[str, list[str]] = {cohort_id: [] for cohort_id in wanted}
    if not wanted:
        return found
    rows = session.execute(
        select(Motion.cohort_id, Motion.id)
        .where(
            Motion.org_id == org_id,
            Motion.livemode == livemode,
            Motion.status == MotionStatus.active.value,
            Motion.cohort_id.in_(wanted),
        )
        .order_by(Motion.id)
    )
    for cohort_id, motion_id in rows:
        if cohort_id is not None:  # filtered by IN above; narrows the type
            found[cohort_id].append(motion_id)
    return found


def detach_cohort(session: Session, *, org_id: str, livemode: bool, cohort_id: str) -> None:
    """Forget a deleted cohort in the motions that referenced it (none of them active)."""
    session.execute(
        update(Motion)
        .where(Motion.org_id == org_id, Motion.livemode == livemode, Motion.cohort_id == cohort_id)
        .values(cohort_id=None)
    )


def add_motion(session: Session, motion: Motion) -> None:
    session.add(motion)
    session.flush()
