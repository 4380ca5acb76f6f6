"""``GET /v1/reports/cohort`` (and ``/reports/cohort``): GrowPanel's cohort report."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from cohortd.api.cache import AnswersDep
from cohortd.api.deps import AuthDep, SessionDep, SettingsDep, WarehouseDep
from cohortd.reports import service
from cohortd.reports.schemas import CohortReport

router = APIRouter(tags=["Reports"])

_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "A parameter has a bad value; errors name it"},
    401: {"description": "Missing or bad key"},
    404: {"description": "cohort_id names no cohort of this mode"},
    422: {"description": "The report is too large (narrow it) or the data lacks a rate"},
    503: {"description": "Past the request deadline (COHORTD_QUERY_TIMEOUT_SECONDS)"},
}

Text = str | None


def _param(description: str) -> Any:
    return Query(description=description)


@router.get("/v1/reports/cohort", response_model=CohortReport, responses=_RESPONSES)
@router.get(
    "/reports/cohort", response_model=CohortReport, responses=_RESPONSES, include_in_schema=False
)
def cohort_report(
    principal: AuthDep,
    session: SessionDep,
    warehouse: WarehouseDep,
    settings: SettingsDep,
    answers: AnswersDep,
    date: Annotated[Text, _param("Report date YYYY-MM-DD; default today (UTC).")] = None,
    interval: Annotated[Text, _param("day (served as week), week, month, quarter, year.")] = None,
    baseCurrency: Annotated[Text, _param("ISO 4217 target; default the org's.")] = None,
    breakdown: Annotated[Text, _param("country or currency; default time-based.")] = None,
    fix_fx: Annotated[Text, _param("true: every amount at the rate of P0's first day.")] = None,
    region: Annotated[Text, _param("Country codes and region slugs, space-separated.")] = None,
    currency: Annotated[Text, _param("Customer billing currencies, space-separated.")] = None,
    industry: Annotated[Text, _param("Industries, space-separated.")] = None,
    channel: Annotated[Text, _param("Channels, space-separated.")] = None,
    size: Annotated[Text, _param("Company sizes, space-separated.")] = None,
    format: Annotated[Text, _param("list (default) or chart.")] = None,
    cohort_id: Annotated[Text, _param("Restrict the universe to a cohort's members.")] = None,
) -> Response:
    params = service.ReportParams(
        date=date,
        interval=interval,
        baseCurrency=baseCurrency,
        breakdown=breakdown,
        fix_fx=fix_fx,
        region=region,
        currency=currency,
        industry=industry,
        channel=channel,
        size=size,
        format=format,
        cohort_id=cohort_id,
    )
    # a weekly report is ~15 MB of JSON: orjson writes it ~10x faster than json; the
    # garbage collector stays paused until the cells are gone (engine.collection)
    return answers.respond(
        principal.scope,
        "report",
        service.request_key(session, principal, params),
        lambda: service.report_for(session, warehouse, principal, params, settings=settings),
    )
