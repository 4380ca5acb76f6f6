"""Cohort intelligence for the dashboard, from the same service as the ``/v1`` routes:
snapshots, vintage curve, comparison and anomalies, as the API answers them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from cohortd.api.deps import Principal
from cohortd.api.paging import Page, PageParams, paginate_select
from cohortd.config import Settings
from cohortd.errors import NotFound
from cohortd.intelligence import jobs, repository, runs, service
from cohortd.intelligence.models import Anomaly as AnomalyRow
from cohortd.intelligence.service import Caller
from cohortd.warehouse import Warehouse
from cohortd.web.deps import deadline_reading


def caller(principal: Principal) -> Caller:
    return Caller(principal.org_id, principal.livemode, principal.base_currency)


@dataclass(frozen=True, slots=True)
class CohortInsights:
    """The API's answers for one cohort: snapshots list, curve, its anomalies."""

    snapshots: list[dict[str, Any]]
    curve: dict[str, Any]
    anomalies: list[dict[str, Any]]


def cohort_insights(
    session: Session,
    warehouse: Warehouse,
    principal: Principal,
    cohort_id: str,
    *,
    interval: str,
    settings: Settings,
) -> CohortInsights:
    who = caller(principal)
    # a reader of its own (never waits for another or a write), under the deadline
    with deadline_reading(warehouse, settings):
        snapshots = service.cohort_snapshots(
            session,
            warehouse,
            who,
            cohort_id,
            interval=interval,
            start=None,
            end=None,
            base_currency=None,
        )
        curve = service.cohort_curve(
            session, warehouse, who, cohort_id, months=None, base_currency=None
        )
    return CohortInsights(
        snapshots=snapshots["data"],
        curve=curve,
        anomalies=anomalies(session, principal, cohort_id=cohort_id, limit=100).items,
    )


def anomalies(
    session: Session,
    principal: Principal,
    *,
    cohort_id: str | None = None,
    severity: str | None = None,
    limit: int = 100,
    starting_after: str | None = None,
) -> Page[dict[str, Any]]:
    """A page of stored anomalies as ``GET /v1/anomalies`` shows them (oldest first)."""
    stmt = repository.anomalies_query(
        org_id=principal.org_id,
        livemode=principal.livemode,
        cohort_id=cohort_id,
        severity=severity,
    )
    found = paginate_select(
        session, stmt, AnomalyRow.id, PageParams(limit=limit, starting_after=starting_after)
    )
    views = [runs.anomaly_view(row) for row in found.items]
    return Page(items=views, has_more=found.has_more, next_cursor=found.next_cursor)


def comparison(
    session: Session,
    warehouse: Warehouse,
    principal: Principal,
    *,
    cohort_type: str | None,
    interval: str | None,
    period: str | None,
    settings: Settings,
) -> dict[str, Any]:
    with deadline_reading(warehouse, settings):
        return service.compare(
            session,
            warehouse,
            caller(principal),
            cohort_type=cohort_type,
            interval=interval,
            period=period,
            base_currency=None,
        )


def start_run(sessions: sessionmaker[Session], principal: Principal) -> jobs.Started:
    """Start a snapshot run as ``POST /v1/snapshots/run`` does (or find the one in flight)."""
    return jobs.start(sessions, caller(principal), trigger="dashboard")


def run_status(session: Session, principal: Principal, run_id: str) -> dict[str, Any] | None:
    """The run's view, or None for an unknown id (the page then shows no run)."""
    try:
        jobs.fail_stale(session)
        (found,) = jobs.views(session, [jobs.get(session, caller(principal), run_id)])
    except NotFound:
        return None
    return found
