"""The Cohorts pages: the list with live member counts, the rule form, one cohort."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from cohortd.api.deps import SessionDep, SettingsDep, WarehouseDep
from cohortd.api.paging import PageParams
from cohortd.cohorts import service as cohorts
from cohortd.cohorts.schemas import CohortType, CohortUpdate
from cohortd.errors import AppError, NotFound
from cohortd.web import cohort_form
from cohortd.web.deps import (
    ViewerDep,
    deadline_reading,
    page,
    problem_page,
    require_csrf,
    require_writer,
)
from cohortd.web.insights import cohort_insights

router = APIRouter(prefix="/app", include_in_schema=False)

_MEMBERS_PER_PAGE = 25


@router.get("/cohorts", response_class=HTMLResponse)
def cohort_list(
    request: Request,
    viewer: ViewerDep,
    session: SessionDep,
    warehouse: WarehouseDep,
    settings: SettingsDep,
    cohort_type: CohortType | None = None,
    starting_after: str | None = None,
) -> Response:
    found = cohorts.list_cohort_rows(
        session,
        viewer.principal,
        PageParams(limit=50, starting_after=starting_after),
        cohort_type=cohort_type,
    )
    try:
        with deadline_reading(warehouse, settings):  # member counts: a reader of its own
            items = cohorts.views(session, warehouse, viewer.principal, found.items)
    except AppError as problem:
        return problem_page(request, viewer, problem, back="/app")
    return page(
        request,
        "cohorts.html",
        viewer,
        section_root="/app/cohorts",
        cohorts=items,
        types=[t.value for t in CohortType],
        cohort_type=cohort_type.value if cohort_type else "",
        next_cursor=found.next_cursor if found.has_more else None,
    )


def _form_page(
    request: Request,
    viewer: ViewerDep,
    form: cohort_form.CohortForm,
    *,
    action: str,
    status: int = 200,
) -> Response:
    return page(
        request,
        "cohort_form.html",
        viewer,
        status_code=status,
        section_root="/app/cohorts",
        form=form,
        action=action,
        list_fields=cohort_form.LIST_FIELDS,
        number_fields=cohort_form.NUMBER_FIELDS,
        date_fields=cohort_form.DATE_FIELDS,
        statuses=cohort_form.STATUSES,
    )


def _read_form(data: FormData) -> cohort_form.CohortForm:
    values = {k: str(v) for k, v in data.items() if k not in ("status", "csrf_token")}
    return cohort_form.CohortForm(values=values, statuses=[str(s) for s in data.getlist("status")])


@router.get("/cohorts/new", response_class=HTMLResponse)
def new_cohort(request: Request, viewer: ViewerDep) -> Response:
    require_writer(viewer)
    return _form_page(request, viewer, cohort_form.CohortForm(), action="/app/cohorts/new")


@router.post("/cohorts/new", response_class=HTMLResponse)
async def create_cohort(request: Request, viewer: ViewerDep, session: SessionDep) -> Response:
    data = await request.form()
    require_csrf(viewer, str(data.get("csrf_token", "")))
    require_writer(viewer)
    form = _read_form(data)
    body = cohort_form.to_create(form)
    if body is None:
        return _form_page(request, viewer, form, action="/app/cohorts/new", status=422)
    row = cohorts.create_cohort(session, viewer.principal, body)
    return RedirectResponse(f"/app/cohorts/{row.id}", status_code=303)


@router.get("/cohorts/{cohort_id}/edit", response_class=HTMLResponse)
def edit_cohort(
    request: Request, cohort_id: str, viewer: ViewerDep, session: SessionDep
) -> Response:
    require_writer(viewer)
    try:
        row = cohorts.get_cohort_row(session, viewer.principal, cohort_id)
    except NotFound as missing:
        return problem_page(request, viewer, missing, back="/app/cohorts")
    form = cohort_form.from_stored(row.name, row.description, row.definition)
    return _form_page(request, viewer, form, action=f"/app/cohorts/{row.id}/edit")


@router.post("/cohorts/{cohort_id}/edit", response_class=HTMLResponse)
async def update_cohort(
    request: Request, cohort_id: str, viewer: ViewerDep, session: SessionDep
) -> Response:
    data = await request.form()
    require_csrf(viewer, str(data.get("csrf_token", "")))
    require_writer(viewer)
    form = _read_form(data)
    body = cohort_form.to_create(form)
    action = f"/app/cohorts/{cohort_id}/edit"
    if body is None:
        return _form_page(request, viewer, form, action=action, status=422)
    # The form shows the whole rule, so the definition replaces the old one whole.
    update = CohortUpdate(name=body.name, description=body.description, definition=body.definition)
    cohorts.update_cohort(session, viewer.principal, cohort_id, update)
    return RedirectResponse(f"/app/cohorts/{cohort_id}", status_code=303)


@router.get("/cohorts/{cohort_id}", response_class=HTMLResponse)
def cohort_detail(
    request: Request,
    cohort_id: str,
    viewer: ViewerDep,
    session: SessionDep,
    warehouse: WarehouseDep,
    settings: SettingsDep,
    starting_after: str | None = None,
    interval: Literal["month", "quarter"] = "month",
) -> Response:
    try:
        row = cohorts.get_cohort_row(session, viewer.principal, cohort_id)
    except NotFound as missing:
        return problem_page(request, viewer, missing, back="/app/cohorts")
    try:
        with deadline_reading(warehouse, settings):
            cohort = cohorts.views(session, warehouse, viewer.principal, [row])[0]
            members = cohorts.members_page(
                session,
                warehouse,
                viewer.principal,
                cohort_id,
                PageParams(limit=_MEMBERS_PER_PAGE, starting_after=starting_after),
            )
        found_insights = cohort_insights(
            session, warehouse, viewer.principal, cohort_id, interval=interval, settings=settings
        )
    except AppError as problem:
        return problem_page(request, viewer, problem, back="/app/cohorts")
    return page(
        request,
        "cohort.html",
        viewer,
        section_root="/app/cohorts",
        cohort=cohort,
        definition=cohort.definition.stored(),
        members=members.items,
        next_cursor=members.next_cursor if members.has_more else None,
        interval=interval,
        paged=starting_after is not None,
        insights=found_insights,
    )
