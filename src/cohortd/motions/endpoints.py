"""``/v1/motions``: campaigns targeting a cohort (what makes ``used_by_motions`` real)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from cohortd.api.deps import AuthDep, SessionDep, WriteAuth
from cohortd.api.paging import ListResource, PageDep
from cohortd.motions import service
from cohortd.motions.models import MotionStatus
from cohortd.motions.schemas import Motion, MotionCreate, MotionUpdate

router = APIRouter(prefix="/v1/motions", tags=["Motions"])

_ERRORS: dict[int | str, dict[str, str]] = {
    401: {"description": "Missing or bad key"},
    403: {"description": "The key's role may not"},
}
_NOT_FOUND: dict[int | str, dict[str, str]] = {
    **_ERRORS,
    404: {"description": "No such motion in this mode"},
}


@router.post(
    "",
    status_code=201,
    response_model=Motion,
    responses={**_ERRORS, 422: {"description": "Invalid body"}},
)
def create_motion(body: MotionCreate, principal: WriteAuth, session: SessionDep) -> Motion:
    return Motion.model_validate(service.create_motion(session, principal, body))


@router.get("", response_model=ListResource[Motion], responses=_ERRORS)
def list_motions(
    principal: AuthDep,
    session: SessionDep,
    page: PageDep,
    cohort_id: Annotated[
        str | None, Query(description="Only motions targeting this cohort.")
    ] = None,
    status: Annotated[
        MotionStatus | None, Query(description="Only motions in this status.")
    ] = None,
) -> ListResource[Motion]:
    found = service.list_motions(session, principal, page, cohort_id=cohort_id, status=status)
    return ListResource(
        data=[Motion.model_validate(m) for m in found.items],
        has_more=found.has_more,
        next_cursor=found.next_cursor,
    )


@router.get("/{motion_id}", response_model=Motion, responses=_NOT_FOUND)
def get_motion(motion_id: str, principal: AuthDep, session: SessionDep) -> Motion:
    return Motion.model_validate(service.get_motion(session, principal, motion_id))


@router.patch(
    "/{motion_id}",
    response_model=Motion,
    responses={**_NOT_FOUND, 409: {"description": "Completed motions are final"}},
)
def update_motion(
    motion_id: str, body: MotionUpdate, principal: WriteAuth, session: SessionDep
) -> Motion:
    return Motion.model_validate(service.update_motion(session, principal, motion_id, body))
