"""Motion rules: a motion targets a cohort of the same organization and mode.

Status moves freely between draft, active and paused; ``completed`` is final. A motion
whose cohort was deleted (possible only while it was not active) cannot be activated.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from cohortd.api.paging import Page, PageParams, paginate_select
from cohortd.cohorts import repository as cohorts
from cohortd.cohorts.service import Tenant
from cohortd.db import utcnow
from cohortd.errors import Conflict, FieldError, NotFound, ValidationFailed
from cohortd.ids import new_id
from cohortd.motions import repository
from cohortd.motions.models import Motion, MotionStatus
from cohortd.motions.schemas import MotionCreate, MotionUpdate


def create_motion(session: Session, tenant: Tenant, body: MotionCreate) -> Motion:
    found = cohorts.get_cohort(
        session, org_id=tenant.org_id, livemode=tenant.livemode, cohort_id=body.cohort_id
    )
    if found is None:
        # A body field that points nowhere in this mode: 422 naming it, like Stripe.
        raise ValidationFailed(
            f"No cohort '{body.cohort_id}' in this mode.",
            errors=[FieldError(("body", "cohort_id"), "no such cohort in this mode")],
        )
    now = utcnow()
    motion = Motion(
        id=new_id("motion"),
        org_id=tenant.org_id,
        livemode=tenant.livemode,
        name=body.name,
        type=body.type.value,
        status=body.status.value,
        cohort_id=body.cohort_id,
        created_at=now,
        updated_at=now,
    )
    repository.add_motion(session, motion)
    return motion


def get_motion(session: Session, tenant: Tenant, motion_id: str) -> Motion:
    motion = repository.get_motion(
        session, org_id=tenant.org_id, livemode=tenant.livemode, motion_id=motion_id
    )
    if motion is None:
        raise NotFound(f"No motion '{motion_id}' in this mode.")
    return motion


def update_motion(session: Session, tenant: Tenant, motion_id: str, body: MotionUpdate) -> Motion:
    motion = get_motion(session, tenant, motion_id)
    given = body.model_dump(exclude_unset=True)
    if "status" in given and given["status"] != motion.status:
        _check_transition(motion, MotionStatus(given["status"]))
        motion.status = MotionStatus(given["status"]).value
    if "name" in given:
        motion.name = given["name"]
    motion.updated_at = utcnow()
    session.flush()
    return motion


def _check_transition(motion: Motion, target: MotionStatus) -> None:
    if motion.status == MotionStatus.completed.value:
        raise Conflict(f"Motion '{motion.id}' is completed; its status is final.")
    if target is MotionStatus.active and motion.cohort_id is None:
        raise Conflict(f"Motion '{motion.id}' has no cohort (it was deleted); it cannot be active.")


def list_motions(
    session: Session,
    tenant: Tenant,
    page: PageParams,
    *,
    cohort_id: str | None = None,
    status: MotionStatus | None = None,
) -> Page[Motion]:
    stmt = repository.motions_query(
        org_id=tenant.org_id,
        livemode=tenant.livemode,
        cohort_id=cohort_id,
        status=status.value if status else None,
    )
    return paginate_select(session, stmt, Motion.id, page)
