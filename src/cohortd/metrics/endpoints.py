"""``GET /v1/metrics`` and ``GET /v1/metrics/{metric}``: Recurr's Metrics (SPEC §8)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from cohortd.api.cache import AnswersDep
from cohortd.api.deps import AuthDep, SessionDep, SettingsDep, WarehouseDep
from cohortd.metrics import service
from cohortd.metrics.schemas import Metric, Metrics

router = APIRouter(tags=["Metrics"])

_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "A parameter has a bad value; errors name it"},
    401: {"description": "Missing or bad key"},
    404: {"description": "cohort_id names no cohort of this mode, or no such metric"},
    422: {"description": "More than 1,000 entries (narrow the range) or a currency without rates"},
    503: {"description": "The query ran past the configured timeout"},
}

Text = str | None


def _param(description: str) -> Any:
    return Query(description=description)


StartDate = Annotated[Text, _param("First day YYYY-MM-DD; default: 12 periods back.")]
EndDate = Annotated[Text, _param("Last day YYYY-MM-DD, not after today; default today (UTC).")]
IntervalParam = Annotated[Text, _param("day, week, month (default), quarter or year.")]
Currency = Annotated[Text, _param("ISO 4217 target; default the org's.")]
FixFx = Annotated[Text, _param("true: every amount at the rate of the first period_start.")]
Region = Annotated[Text, _param("Country codes and region slugs, space-separated.")]
Billing = Annotated[Text, _param("Customer billing currencies, space-separated.")]
Industry = Annotated[Text, _param("Industries, space-separated.")]
Channel = Annotated[Text, _param("Channels, space-separated.")]
Size = Annotated[Text, _param("Company sizes, space-separated.")]
CohortId = Annotated[Text, _param("Restrict to a cohort's members (as of end_date).")]


def _params(**given: str | None) -> service.MetricsParams:
    return service.MetricsParams(**given)


@router.get("/v1/metrics", response_model=Metrics, responses=_RESPONSES)
def get_metrics(
    principal: AuthDep,
    session: SessionDep,
    warehouse: WarehouseDep,
    settings: SettingsDep,
    answers: AnswersDep,
    start_date: StartDate = None,
    end_date: EndDate = None,
    interval: IntervalParam = None,
    baseCurrency: Currency = None,
    fix_fx: FixFx = None,
    region: Region = None,
    currency: Billing = None,
    industry: Industry = None,
    channel: Channel = None,
    size: Size = None,
    cohort_id: CohortId = None,
) -> Response:
    """MRR, ARR, customers, ARPA, movements, churn rates, NRR/GRR, quick ratio and LTV
    per period, with a summary of the last two."""
    params = _params(
        start_date=start_date,
        end_date=end_date,
        interval=interval,
        baseCurrency=baseCurrency,
        fix_fx=fix_fx,
        region=region,
        currency=currency,
        industry=industry,
        channel=channel,
        size=size,
        cohort_id=cohort_id,
    )

    def compute() -> dict[str, Any]:
        query, series = service.series_for(
            session, warehouse, principal, params, timeout_seconds=settings.query_timeout_seconds
        )
        return service.metrics_body(query, series)

    return answers.respond(
        principal.scope, "metrics", service.request_key(session, principal, params), compute
    )


@router.get("/v1/metrics/{metric}", response_model=Metric, responses=_RESPONSES)
def get_metric(
    metric: str,
    principal: AuthDep,
    session: SessionDep,
    warehouse: WarehouseDep,
    settings: SettingsDep,
    answers: AnswersDep,
    start_date: StartDate = None,
    end_date: EndDate = None,
    interval: IntervalParam = None,
    baseCurrency: Currency = None,
    fix_fx: FixFx = None,
    region: Region = None,
    currency: Billing = None,
    industry: Industry = None,
    channel: Channel = None,
    size: Size = None,
    cohort_id: CohortId = None,
) -> Response:
    """One numeric entry field as a series, each value with its change in percent."""
    name = service.parse_metric(metric)
    params = _params(
        start_date=start_date,
        end_date=end_date,
        interval=interval,
        baseCurrency=baseCurrency,
        fix_fx=fix_fx,
        region=region,
        currency=currency,
        industry=industry,
        channel=channel,
        size=size,
        cohort_id=cohort_id,
    )

    def compute() -> dict[str, Any]:
        query, series = service.series_for(
            session, warehouse, principal, params, timeout_seconds=settings.query_timeout_seconds
        )
        return service.metric_body(name, query, series)

    key = (name, service.request_key(session, principal, params))
    return answers.respond(principal.scope, "metric", key, compute)
