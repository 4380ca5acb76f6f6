"""The Overview page, the dashboard's first: MRR over time with its movements as bars,
the headline metrics as tiles with their change, the same filters as the Retention page
(SPEC §8)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Annotated, Any, Final
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from cohortd.api.deps import SessionDep, SettingsDep, WarehouseDep
from cohortd.api.paging import PageParams
from cohortd.cohorts import service as cohorts
from cohortd.engine import metrics
from cohortd.errors import AppError
from cohortd.metrics import service
from cohortd.web.deps import ViewerDep, page

router = APIRouter(prefix="/app", include_in_schema=False)

# (field, label, kind): kind says how the page writes the value
TILES: Final = (
    ("mrr", "MRR", "money"),
    ("arr", "ARR", "money"),
    ("customers", "Customers", "count"),
    ("arpa", "ARPA", "money"),
    ("customer_churn_rate", "Customer churn", "percent"),
    ("mrr_churn_rate", "MRR churn", "percent"),
    ("nrr", "NRR", "percent"),
    ("quick_ratio", "Quick ratio", "ratio"),
    ("ltv", "LTV", "money"),
)


@dataclass(frozen=True)
class OverviewForm:
    """The page's controls, as typed (empty = default)."""

    interval: str = "month"
    start_date: str = ""
    end_date: str = ""
    baseCurrency: str = ""
    fix_fx: str = ""
    region: str = ""
    currency: str = ""
    industry: str = ""
    channel: str = ""
    size: str = ""
    cohort_id: str = ""

    def params(self) -> service.MetricsParams:
        return service.MetricsParams(**{k: v or None for k, v in asdict(self).items()})

    def query_string(self) -> str:
        return urlencode({k: v for k, v in asdict(self).items() if v})


def _form(
    interval: Annotated[str, Query(max_length=20)] = "month",
    start_date: Annotated[str, Query(max_length=20)] = "",
    end_date: Annotated[str, Query(max_length=20)] = "",
    baseCurrency: Annotated[str, Query(max_length=10)] = "",
    fix_fx: Annotated[str, Query(max_length=10)] = "",
    region: Annotated[str, Query(max_length=500)] = "",
    currency: Annotated[str, Query(max_length=500)] = "",
    industry: Annotated[str, Query(max_length=500)] = "",
    channel: Annotated[str, Query(max_length=500)] = "",
    size: Annotated[str, Query(max_length=500)] = "",
    cohort_id: Annotated[str, Query(max_length=60)] = "",
) -> OverviewForm:
    return OverviewForm(
        interval, start_date, end_date, baseCurrency, fix_fx, region, currency, industry,
        channel, size, cohort_id,
    )  # fmt: skip


FormDep = Annotated[OverviewForm, Depends(_form)]


def tiles(series: metrics.MetricsSeries) -> list[dict[str, Any]]:
    """Each tile: the last entry's value and its change against the entry before."""
    last = series.entries[-1].values() if series.entries else {}
    before = series.entries[-2].values() if len(series.entries) > 1 else {}
    return [
        {
            "field": name,
            "label": label,
            "kind": kind,
            "value": metrics.rounded(last.get(name)),
            "change": metrics.rounded(metrics.percentage_change(last.get(name), before.get(name))),
        }
        for name, label, kind in TILES
    ]


@router.get("/overview", response_class=HTMLResponse)
def overview(
    request: Request,
    viewer: ViewerDep,
    session: SessionDep,
    warehouse: WarehouseDep,
    settings: SettingsDep,
    form: FormDep,
) -> Response:
    problem: AppError | None = None
    body: dict[str, Any] | None = None
    shown: list[dict[str, Any]] = []
    try:
        query, series = service.series_for(
            session,
            warehouse,
            viewer.principal,
            form.params(),
            timeout_seconds=settings.query_timeout_seconds,
        )
        body = service.metrics_body(query, series)
        shown = tiles(series)
    except AppError as error:
        problem = error  # shown next to the controls; it names the parameter
    cohort_rows = cohorts.list_cohort_rows(
        session, viewer.principal, PageParams(limit=100), cohort_type=None
    )
    return page(
        request,
        "overview.html",
        viewer,
        status_code=problem.status if problem else 200,
        section_root="/app/overview",
        form=form,
        body=body,
        tiles=shown,
        problem=problem,
        cohorts=cohort_rows.items,
        default_currency=viewer.principal.base_currency,
        query_string=form.query_string(),
    )


@router.get("/overview.csv")
def overview_csv(
    viewer: ViewerDep,
    session: SessionDep,
    warehouse: WarehouseDep,
    settings: SettingsDep,
    form: FormDep,
) -> Response:
    """The page's series, one line per period, every field."""
    query, series = service.series_for(
        session,
        warehouse,
        viewer.principal,
        form.params(),
        timeout_seconds=settings.query_timeout_seconds,
    )
    return Response(
        service.as_csv(service.metrics_body(query, series)),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="metrics.csv"'},
    )
