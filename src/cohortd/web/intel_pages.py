"""The Compare and Anomalies pages (cohort intelligence, SPEC §4)."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from cohortd.api.deps import SessionDep, SettingsDep, WarehouseDep
from cohortd.api.paging import PageParams
from cohortd.cohorts import service as cohorts
from cohortd.cohorts.schemas import CohortType
from cohortd.errors import AppError
from cohortd.intelligence import jobs
from cohortd.web import insights
from cohortd.web.deps import ViewerDep, page, require_csrf, require_writer

router = APIRouter(prefix="/app", include_in_schema=False)


@router.get("/compare", response_class=HTMLResponse)
def compare(
    request: Request,
    viewer: ViewerDep,
    session: SessionDep,
    warehouse: WarehouseDep,
    settings: SettingsDep,
    cohort_type: str = "vintage",
    interval: str = "month",
    period: str = "",
) -> Response:
    ranking = None
    problem: AppError | None = None
    try:
        ranking = insights.comparison(
            session,
            warehouse,
            viewer.principal,
            cohort_type=cohort_type or None,
            interval=interval,
            period=period or None,
            settings=settings,
        )
    except AppError as error:
        problem = error
    return page(
        request,
        "compare.html",
        viewer,
        status_code=problem.status if problem else 200,
        section_root="/app/compare",
        ranking=ranking,
        problem=problem,
        types=[t.value for t in CohortType],
        cohort_type=cohort_type,
        interval=interval,
        period=period,
    )


@router.get("/anomalies", response_class=HTMLResponse)
def anomaly_list(
    request: Request,
    viewer: ViewerDep,
    session: SessionDep,
    severity: str = "",
    starting_after: str | None = None,
    run: str = "",
) -> Response:
    followed = insights.run_status(session, viewer.principal, run[:40]) if run else None
    chosen = severity if severity in ("warning", "critical") else None
    found = insights.anomalies(
        session, viewer.principal, severity=chosen, limit=100, starting_after=starting_after
    )
    names = _cohort_names(session, viewer, {a["cohort_id"] for a in found.items})
    return page(
        request,
        "anomalies.html",
        viewer,
        section_root="/app/anomalies",
        anomalies=[{**a, "anchor": snapshot_anchor(a["period"])} for a in found.items],
        names=names,
        severity=chosen or "",
        next_cursor=found.next_cursor if found.has_more else None,
        run=followed,
        refresh=followed is not None and followed["status"] in ("queued", "running"),
    )


def snapshot_anchor(period: str) -> str:
    """Where on the cohort page the anomaly's evidence is: the monthly snapshot holding
    its period (a day), or the vintage curve for a lagging vintage ("M<age>")."""
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", period):
        return f"snap-{period[:8]}01"
    return "curve-chart"


def _cohort_names(session: SessionDep, viewer: ViewerDep, ids: set[str]) -> dict[str, str]:
    rows = cohorts.list_cohort_rows(
        session, viewer.principal, PageParams(limit=100), cohort_type=None
    )
    names = {row.id: row.name for row in rows.items}
    return {cohort_id: names.get(cohort_id, cohort_id) for cohort_id in ids}


@router.post("/anomalies/run")
def run_snapshots(
    request: Request,
    viewer: ViewerDep,
    warehouse: WarehouseDep,
    background: BackgroundTasks,
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Start a run (as ``POST /v1/snapshots/run``) and follow it on the Anomalies page."""
    require_csrf(viewer, csrf_token)
    require_writer(viewer)
    sessions = request.app.state.sessions
    started = insights.start_run(sessions, viewer.principal)
    if started.created:
        background.add_task(jobs.execute, sessions, warehouse, started.run.id)
    return RedirectResponse(f"/app/anomalies?run={started.run.id}", status_code=303)
