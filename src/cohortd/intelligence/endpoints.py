"""Cohort intelligence over HTTP: Pillar's ``/api/cohorts/definitions`` and ``/v1`` routes.

Register ``router`` BEFORE the cohorts router: ``/v1/cohorts/compare`` must not be taken
for ``/v1/cohorts/{id}``.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Query, Request, Response
from sqlalchemy.orm import Session

from cohortd import clock
from cohortd.api.cache import AnswersDep
from cohortd.api.deps import (
    AuthDep,
    Principal,
    SessionDep,
    SettingsDep,
    WarehouseDep,
    WriteAuth,
)
from cohortd.api.paging import ListResource, PageDep, paginate_select
from cohortd.api.reads import analytic
from cohortd.cohorts.schemas import CohortType
from cohortd.engine.anomalies import AnomalyType, Severity
from cohortd.errors import InvalidParameter
from cohortd.intelligence import definitions, jobs, repository, runs, service
from cohortd.intelligence import settings as anomaly_settings
from cohortd.intelligence.models import Anomaly as AnomalyRow
from cohortd.intelligence.schemas import (
    Anomaly,
    AnomalySettingsUpdate,
    AnomalySettingsView,
    MembershipChange,
    SnapshotRun,
)
from cohortd.intelligence.service import Caller, parse_cohort_type

pillar_router = APIRouter(prefix="/api/cohorts", tags=["Pillar cohorts"])
router = APIRouter(tags=["Cohort intelligence"])

_ERRORS: dict[int | str, dict[str, str]] = {
    400: {"description": "A parameter is invalid; errors name it"},
    401: {"description": "Missing or bad key"},
    403: {"description": "The key's role may not"},
}
_NOT_FOUND: dict[int | str, dict[str, str]] = {
    **_ERRORS,
    404: {"description": "No such cohort in this mode"},
    422: {"description": "A currency without exchange rates"},
}


def _caller(principal: Principal) -> Caller:
    return Caller(principal.org_id, principal.livemode, principal.base_currency)


@pillar_router.post("/definitions", responses=_ERRORS)
def generate_definitions(
    principal: WriteAuth, session: SessionDep, warehouse: WarehouseDep, settings: SettingsDep
) -> dict[str, Any]:
    """Auto-generate vintage, segment, territory and rep cohorts (upsert)."""
    with analytic(warehouse, principal.scope, settings):
        return definitions.generate(session, warehouse, principal).as_json()


@pillar_router.get("/definitions", responses=_ERRORS)
def list_definitions(
    principal: AuthDep,
    session: SessionDep,
    warehouse: WarehouseDep,
    settings: SettingsDep,
    cohort_type: Annotated[
        str | None, Query(description="vintage, segment, territory, rep, custom")
    ] = None,
) -> dict[str, Any]:
    """Every cohort definition of this organization and mode, with exact member counts."""
    kind = parse_cohort_type(cohort_type)
    with analytic(warehouse, principal.scope, settings):
        return definitions.definitions(
            session, warehouse, principal, cohort_type=CohortType(kind) if kind else None
        )


@router.get("/v1/cohorts/compare", responses=_ERRORS)
def compare_cohorts(
    principal: AuthDep,
    session: SessionDep,
    warehouse: WarehouseDep,
    answers: AnswersDep,
    cohort_type: Annotated[str | None, Query(description="Only cohorts of this type.")] = None,
    interval: Annotated[str | None, Query(description="month (default) or quarter.")] = None,
    period: Annotated[
        str | None,
        Query(description="YYYY-MM, YYYY-Qn or a day inside it; default the last complete one."),
    ] = None,
    base_currency: Annotated[str | None, Query(alias="baseCurrency")] = None,
) -> Response:
    """Cohorts ranked by NRR for one period (dense ranks, best/worst/normal)."""
    key = (_today(), cohort_type, interval, period, base_currency, _fingerprint(session, principal))
    return answers.respond(
        principal.scope,
        "compare",
        key,
        lambda: service.compare(
            session,
            warehouse,
            _caller(principal),
            cohort_type=cohort_type,
            interval=interval,
            period=period,
            base_currency=base_currency,
        ),
    )


@router.get("/v1/cohorts/{cohort_id}/snapshots", responses=_NOT_FOUND)
def cohort_snapshots(
    cohort_id: str,
    principal: AuthDep,
    session: SessionDep,
    warehouse: WarehouseDep,
    answers: AnswersDep,
    interval: Annotated[str | None, Query(description="month (default) or quarter.")] = None,
    start: Annotated[str | None, Query(alias="from", description="First day (YYYY-MM-DD).")] = None,
    end: Annotated[str | None, Query(alias="to", description="Last day (YYYY-MM-DD).")] = None,
    base_currency: Annotated[str | None, Query(alias="baseCurrency")] = None,
) -> Response:
    """MRR movements, NRR and GRR per period for the cohort's members as of today."""
    key = (
        _today(),
        cohort_id,
        interval,
        start,
        end,
        base_currency,
        _fingerprint(session, principal),
    )
    return answers.respond(
        principal.scope,
        "snapshots",
        key,
        lambda: service.cohort_snapshots(
            session,
            warehouse,
            _caller(principal),
            cohort_id,
            interval=interval,
            start=start,
            end=end,
            base_currency=base_currency,
        ),
    )


@router.get("/v1/cohorts/{cohort_id}/curve", responses=_NOT_FOUND)
def cohort_curve(
    cohort_id: str,
    principal: AuthDep,
    session: SessionDep,
    warehouse: WarehouseDep,
    answers: AnswersDep,
    months: Annotated[str | None, Query(description="Last month index (default 36).")] = None,
    base_currency: Annotated[str | None, Query(alias="baseCurrency")] = None,
) -> Response:
    """The vintage curve: months 0..N since each member's first paid month, pooled."""
    key = (_today(), cohort_id, months, base_currency, _fingerprint(session, principal))
    return answers.respond(
        principal.scope,
        "curve",
        key,
        lambda: service.cohort_curve(
            session,
            warehouse,
            _caller(principal),
            cohort_id,
            months=_integer("months", months),
            base_currency=base_currency,
        ),
    )


def _today() -> date:
    """Answers "as of today" change at midnight (UTC): the day is part of their key."""
    return clock.today()


def _fingerprint(session: Session, principal: Principal) -> tuple[Any, ...]:
    return repository.answers_fingerprint(
        session, org_id=principal.org_id, livemode=principal.livemode
    )


def _integer(name: str, value: str | None) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise InvalidParameter(name, "must be a whole number") from None


@router.get(
    "/v1/cohorts/{cohort_id}/membership_changes",
    response_model=ListResource[MembershipChange],
    responses=_NOT_FOUND,
)
def membership_changes(
    cohort_id: str, principal: AuthDep, session: SessionDep, page: PageDep
) -> ListResource[MembershipChange]:
    """Who entered and who left between consecutive recorded snapshot runs."""
    found = runs.membership_changes(session, _caller(principal), cohort_id, page)
    data = [MembershipChange.model_validate(item) for item in found.items]
    return ListResource(data=data, has_more=found.has_more, next_cursor=found.next_cursor)


@router.post("/v1/snapshots/run", status_code=202, response_model=SnapshotRun, responses=_ERRORS)
def run_snapshots(
    request: Request, principal: WriteAuth, warehouse: WarehouseDep, background: BackgroundTasks
) -> dict[str, Any]:
    """Start a run recording every cohort and detecting anomalies; it runs after this
    answer (poll ``GET /v1/snapshots/runs/{id}``). While one is queued or running for this
    organization and mode, that one is answered instead of starting another."""
    sessions = request.app.state.sessions
    started = jobs.start(sessions, _caller(principal), trigger="api")
    if started.created:
        background.add_task(jobs.execute, sessions, warehouse, started.run.id)
    return jobs.view(started.run, [])


@router.get("/v1/snapshots/runs", response_model=ListResource[SnapshotRun], responses=_ERRORS)
def list_runs(principal: AuthDep, session: SessionDep, page: PageDep) -> ListResource[SnapshotRun]:
    """Snapshot runs, oldest first."""
    jobs.fail_stale(session)
    found = jobs.page(session, _caller(principal), page)
    data = [SnapshotRun.model_validate(v) for v in jobs.views(session, found.items)]
    return ListResource(data=data, has_more=found.has_more, next_cursor=found.next_cursor)


@router.get(
    "/v1/snapshots/runs/{run_id}",
    response_model=SnapshotRun,
    responses={**_ERRORS, 404: {"description": "No such run in this mode"}},
)
def get_run(run_id: str, principal: AuthDep, session: SessionDep) -> dict[str, Any]:
    """One run: its status, progress and, once succeeded, counts and new anomalies."""
    jobs.fail_stale(session)
    (found,) = jobs.views(session, [jobs.get(session, _caller(principal), run_id)])
    return found


@router.get("/v1/anomalies", response_model=ListResource[Anomaly], responses=_ERRORS)
def list_anomalies(
    principal: AuthDep,
    session: SessionDep,
    page: PageDep,
    cohort_id: Annotated[str | None, Query(description="Only this cohort's.")] = None,
    anomaly_type: Annotated[
        str | None, Query(alias="type", description="low_nrr, accelerating_churn, ...")
    ] = None,
    severity: Annotated[str | None, Query(description="warning or critical.")] = None,
) -> ListResource[Anomaly]:
    """Stored anomalies, oldest first."""
    stmt = repository.anomalies_query(
        org_id=principal.org_id,
        livemode=principal.livemode,
        cohort_id=cohort_id,
        anomaly_type=_member("type", anomaly_type, AnomalyType),
        severity=_member("severity", severity, Severity),
    )
    found = paginate_select(session, stmt, AnomalyRow.id, page)
    data = [Anomaly.model_validate(runs.anomaly_view(row)) for row in found.items]
    return ListResource(data=data, has_more=found.has_more, next_cursor=found.next_cursor)


def _member(name: str, value: str | None, enum: type[AnomalyType] | type[Severity]) -> str | None:
    if value is None or value == "":
        return None
    allowed = [m.value for m in enum]
    if value not in allowed:
        raise InvalidParameter(name, f"must be one of {', '.join(allowed)}")
    return value


@router.get("/v1/settings/anomalies", response_model=AnomalySettingsView, responses=_ERRORS)
def get_anomaly_settings(principal: AuthDep, session: SessionDep) -> dict[str, Any]:
    """This organization's anomaly thresholds for the key's mode."""
    return anomaly_settings.view(principal, anomaly_settings.thresholds(session, principal))


@router.put(
    "/v1/settings/anomalies",
    response_model=AnomalySettingsView,
    responses={**_ERRORS, 422: {"description": "Invalid or contradictory thresholds"}},
)
def put_anomaly_settings(
    body: AnomalySettingsUpdate, principal: WriteAuth, session: SessionDep
) -> dict[str, Any]:
    """Change thresholds (absent ones keep their value)."""
    return anomaly_settings.view(principal, anomaly_settings.update(session, principal, body))
