"""The Retention page: the report's triangle as a heatmap, with every parameter a control."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from cohortd.api.deps import SessionDep, SettingsDep, WarehouseDep
from cohortd.api.paging import PageParams
from cohortd.cohorts import service as cohorts
from cohortd.errors import AppError
from cohortd.web import heatmap
from cohortd.web.deps import ViewerDep, page
from cohortd.web.report_source import ReportForm, as_csv, load_report

router = APIRouter(prefix="/app", include_in_schema=False)


def _form(
    interval: Annotated[str, Query(max_length=20)] = "month",
    date: Annotated[str, Query(max_length=20)] = "",
    baseCurrency: Annotated[str, Query(max_length=10)] = "",
    fix_fx: Annotated[str, Query(max_length=10)] = "",
    breakdown: Annotated[str, Query(max_length=20)] = "",
    region: Annotated[str, Query(max_length=500)] = "",
    currency: Annotated[str, Query(max_length=500)] = "",
    industry: Annotated[str, Query(max_length=500)] = "",
    channel: Annotated[str, Query(max_length=500)] = "",
    size: Annotated[str, Query(max_length=500)] = "",
    cohort_id: Annotated[str, Query(max_length=60)] = "",
) -> ReportForm:
    return ReportForm(
        interval=interval,
        date=date,
        baseCurrency=baseCurrency,
        fix_fx=fix_fx,
        breakdown=breakdown,
        region=region,
        currency=currency,
        industry=industry,
        channel=channel,
        size=size,
        cohort_id=cohort_id,
    )


FormDep = Annotated[ReportForm, Depends(_form)]


@router.get("/retention", response_class=HTMLResponse)
def retention(
    request: Request,
    viewer: ViewerDep,
    session: SessionDep,
    warehouse: WarehouseDep,
    settings: SettingsDep,
    form: FormDep,
    measure: heatmap.Measure = heatmap.Measure.mrr,
    view: heatmap.View = heatmap.View.retention,
) -> Response:
    problem: AppError | None = None
    table: heatmap.Heatmap | None = None
    try:
        envelope = load_report(session, warehouse, settings, viewer.principal, form)
        table = heatmap.build(envelope, measure=measure, view=view)
    except AppError as error:
        # Shown on the page next to the controls; the problem names the parameter.
        problem = error
    cohort_rows = cohorts.list_cohort_rows(
        session, viewer.principal, PageParams(limit=100), cohort_type=None
    )
    return page(
        request,
        "retention.html",
        viewer,
        status_code=problem.status if problem else 200,
        section_root="/app/retention",
        form=form,
        measure=measure,
        view=view,
        table=table,
        problem=problem,
        cohorts=cohort_rows.items,
        default_currency=viewer.principal.base_currency,
        api_query=form.api_params(),
        max_cells=heatmap.MAX_DRAWN_CELLS,
    )


@router.get("/retention.csv")
def retention_csv(
    viewer: ViewerDep,
    session: SessionDep,
    warehouse: WarehouseDep,
    settings: SettingsDep,
    form: FormDep,
) -> Response:
    """The same report as the page, one line per cohort and period."""
    envelope = load_report(session, warehouse, settings, viewer.principal, form)
    return Response(
        as_csv(envelope),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="cohort-retention.csv"'},
    )
