"""``/v1/cohorts``: Recurr's cohort resource (SPEC §3)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from cohortd.api.bounds import InRangeDay
from cohortd.api.deps import AuthDep, SessionDep, SettingsDep, WarehouseDep, WriteAuth
from cohortd.api.paging import ListResource, PageDep
from cohortd.api.reads import analytic
from cohortd.cohorts import service
from cohortd.cohorts.schemas import Cohort, CohortCreate, CohortDeleted, CohortType, CohortUpdate
from cohortd.subscribers.schemas import Subscriber

router = APIRouter(prefix="/v1/cohorts", tags=["Cohorts"])

_ERRORS: dict[int | str, dict[str, str]] = {
    401: {"description": "Missing or bad key"},
    403: {"description": "The key's role may not"},
}
_NOT_FOUND: dict[int | str, dict[str, str]] = {
    **_ERRORS,
    404: {"description": "No such cohort in this mode"},
}
_INVALID: dict[int | str, dict[str, str]] = {
    422: {"description": "Invalid body; errors name the field"}
}

AsOf = Annotated[
    InRangeDay | None,
    Query(
        description="Evaluate membership on this day (YYYY-MM-DD, 1900-01-01 to 2200-12-31); "
        "default today, UTC."
    ),
]


@router.post("", status_code=201, response_model=Cohort, responses={**_ERRORS, **_INVALID})
def create_cohort(
    body: CohortCreate,
    principal: WriteAuth,
    session: SessionDep,
    warehouse: WarehouseDep,
    settings: SettingsDep,
) -> Cohort:
    row = service.create_cohort(session, principal, body)
    with analytic(warehouse, principal.scope, settings):
        return service.views(session, warehouse, principal, [row])[0]


@router.get("", response_model=ListResource[Cohort], responses=_ERRORS)
def list_cohorts(
    principal: AuthDep,
    session: SessionDep,
    warehouse: WarehouseDep,
    settings: SettingsDep,
    page: PageDep,
    cohort_type: Annotated[
        CohortType | None, Query(description="Only cohorts of this type.")
    ] = None,
    as_of: AsOf = None,
) -> ListResource[Cohort]:
    found = service.list_cohort_rows(session, principal, page, cohort_type=cohort_type)
    with analytic(warehouse, principal.scope, settings):
        data = service.views(session, warehouse, principal, found.items, as_of=as_of)
    return ListResource(data=data, has_more=found.has_more, next_cursor=found.next_cursor)


@router.get("/{cohort_id}", response_model=Cohort, responses=_NOT_FOUND)
def get_cohort(
    cohort_id: str,
    principal: AuthDep,
    session: SessionDep,
    warehouse: WarehouseDep,
    settings: SettingsDep,
    as_of: AsOf = None,
) -> Cohort:
    row = service.get_cohort_row(session, principal, cohort_id)
    with analytic(warehouse, principal.scope, settings):
        return service.views(session, warehouse, principal, [row], as_of=as_of)[0]


@router.patch("/{cohort_id}", response_model=Cohort, responses={**_NOT_FOUND, **_INVALID})
def update_cohort(
    cohort_id: str,
    body: CohortUpdate,
    principal: WriteAuth,
    session: SessionDep,
    warehouse: WarehouseDep,
    settings: SettingsDep,
) -> Cohort:
    row = service.update_cohort(session, principal, cohort_id, body)
    with analytic(warehouse, principal.scope, settings):
        return service.views(session, warehouse, principal, [row])[0]


@router.delete(
    "/{cohort_id}",
    response_model=CohortDeleted,
    responses={**_NOT_FOUND, 409: {"description": "An active motion uses the cohort"}},
)
def delete_cohort(cohort_id: str, principal: WriteAuth, session: SessionDep) -> CohortDeleted:
    row = service.delete_cohort(session, principal, cohort_id)
    return CohortDeleted(id=row.id, livemode=row.livemode)


@router.get("/{cohort_id}/members", response_model=ListResource[Subscriber], responses=_NOT_FOUND)
def list_members(
    cohort_id: str,
    principal: AuthDep,
    session: SessionDep,
    warehouse: WarehouseDep,
    settings: SettingsDep,
    page: PageDep,
    as_of: AsOf = None,
) -> ListResource[Subscriber]:
    with analytic(warehouse, principal.scope, settings):
        found = service.members_page(session, warehouse, principal, cohort_id, page, as_of=as_of)
    return ListResource(data=found.items, has_more=found.has_more, next_cursor=found.next_cursor)
