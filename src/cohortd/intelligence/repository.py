"""Every control-plane statement of cohort intelligence. Each filters org and mode."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session

from cohortd.cohorts.models import Cohort
from cohortd.intelligence.models import Anomaly, AnomalySettings, CohortRecording, SnapshotRun
from cohortd.keys.models import Organization


def cohorts(
    session: Session, *, org_id: str, livemode: bool, cohort_type: str | None = None
) -> list[Cohort]:
    """The cohorts of one organization and mode (optionally one type), oldest id first."""
    stmt = select(Cohort).where(Cohort.org_id == org_id, Cohort.livemode == livemode)
    if cohort_type is not None:
        stmt = stmt.where(Cohort.cohort_type == cohort_type)
    return list(session.scalars(stmt.order_by(Cohort.id)))


def add(session: Session, row: Any) -> None:
    session.add(row)
    session.flush()


def organization(session: Session, org_id: str) -> Organization | None:
    return session.get(Organization, org_id)


def organization_ids(session: Session) -> list[str]:
    """Every organization (the scheduled run records all of them, both modes)."""
    return list(session.scalars(select(Organization.id).order_by(Organization.id)))


def cohort_ids(session: Session, *, org_id: str, livemode: bool) -> set[str]:
    """The ids of the organization's cohorts in one mode."""
    stmt = select(Cohort.id).where(Cohort.org_id == org_id, Cohort.livemode == livemode)
    return set(session.scalars(stmt))


def recording_chains(
    session: Session, *, org_id: str, livemode: bool, cohort_ids: Sequence[str]
) -> dict[str, list[CohortRecording]]:
    """Per cohort that has recordings: its recordings from the last one holding the whole
    member set onwards, oldest first (ids are time ordered)."""
    if not cohort_ids:
        return {}
    scoped = (
        CohortRecording.org_id == org_id,
        CohortRecording.livemode == livemode,
        CohortRecording.cohort_id.in_(list(cohort_ids)),
    )
    marks = session.execute(
        select(CohortRecording.cohort_id, func.max(CohortRecording.id))
        .where(*scoped, CohortRecording.members.is_not(None))
        .group_by(CohortRecording.cohort_id)
    )
    since = {cohort_id: first for cohort_id, first in marks}
    if not since:
        return {}
    stmt = select(CohortRecording).where(*scoped, CohortRecording.id >= min(since.values()))
    chains: dict[str, list[CohortRecording]] = {}
    for row in session.scalars(stmt.order_by(CohortRecording.id)):
        first = since.get(row.cohort_id)
        if first is not None and row.id >= first:
            chains.setdefault(row.cohort_id, []).append(row)
    return chains


def recordings(
    session: Session, *, org_id: str, livemode: bool, cohort_id: str
) -> list[CohortRecording]:
    """A cohort's recordings, oldest first."""
    stmt = select(CohortRecording).where(
        CohortRecording.org_id == org_id,
        CohortRecording.livemode == livemode,
        CohortRecording.cohort_id == cohort_id,
    )
    return list(session.scalars(stmt.order_by(CohortRecording.id)))


def anomaly_keys(session: Session, *, org_id: str, livemode: bool) -> set[tuple[str, str, str]]:
    """``(cohort_id, type, period)`` of every stored anomaly (one detection each)."""
    stmt = select(Anomaly.cohort_id, Anomaly.type, Anomaly.period).where(
        Anomaly.org_id == org_id, Anomaly.livemode == livemode
    )
    return {(c, t, p) for c, t, p in session.execute(stmt)}


def anomalies_query(
    *,
    org_id: str,
    livemode: bool,
    cohort_id: str | None = None,
    anomaly_type: str | None = None,
    severity: str | None = None,
) -> Select[Any]:
    """The anomalies of one organization and mode, filtered (for paging)."""
    stmt = select(Anomaly).where(Anomaly.org_id == org_id, Anomaly.livemode == livemode)
    if cohort_id is not None:
        stmt = stmt.where(Anomaly.cohort_id == cohort_id)
    if anomaly_type is not None:
        stmt = stmt.where(Anomaly.type == anomaly_type)
    if severity is not None:
        stmt = stmt.where(Anomaly.severity == severity)
    return stmt


def settings(session: Session, *, org_id: str, livemode: bool) -> AnomalySettings | None:
    return session.get(AnomalySettings, (org_id, livemode))


def runs_query(*, org_id: str, livemode: bool) -> Select[Any]:
    """The snapshot runs of one organization and mode (for paging)."""
    return select(SnapshotRun).where(SnapshotRun.org_id == org_id, SnapshotRun.livemode == livemode)


def last_succeeded_run(session: Session, *, org_id: str, livemode: bool) -> SnapshotRun | None:
    """The scope's run that succeeded last."""
    stmt = runs_query(org_id=org_id, livemode=livemode).where(SnapshotRun.status == "succeeded")
    return session.scalars(stmt.order_by(SnapshotRun.completed_at.desc()).limit(1)).first()


def kept_snapshots(
    session: Session, *, org_id: str, livemode: bool, run_id: str
) -> dict[str, dict[str, Any] | None]:
    """Per cohort, the last complete month ``run_id`` recorded for it (None: none kept)."""
    rows = session.execute(
        select(CohortRecording.cohort_id, CohortRecording.period_snapshot).where(
            CohortRecording.org_id == org_id,
            CohortRecording.livemode == livemode,
            CohortRecording.run_id == run_id,
        )
    )
    return {cohort_id: kept for cohort_id, kept in rows}


def run_by_id(session: Session, run_id: str) -> SnapshotRun | None:
    """A run by id alone: for the job that runs it (the id came from a scoped insert)."""
    return session.get(SnapshotRun, run_id)


def active_run(session: Session, *, active_key: str) -> SnapshotRun | None:
    """The queued or running run holding ``active_key`` (``org_id:livemode``)."""
    return session.scalars(select(SnapshotRun).where(SnapshotRun.active_key == active_key)).first()


def fail_stale(session: Session, *, heard_before: Any, error: str, now: Any) -> int:
    """Mark failed every queued or running run not heard of since ``heard_before`` (its
    heartbeat, or its creation when it never started); returns how many."""
    heard = func.coalesce(SnapshotRun.heartbeat_at, SnapshotRun.created_at)
    result = session.execute(
        update(SnapshotRun)
        .where(SnapshotRun.active_key.is_not(None), heard < heard_before)
        .values(status="failed", error=error, active_key=None, completed_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def run_anomalies(session: Session, run_ids: Sequence[str]) -> list[Anomaly]:
    """The anomalies first detected by these runs, oldest first."""
    if not run_ids:
        return []
    stmt = select(Anomaly).where(Anomaly.run_id.in_(list(run_ids))).order_by(Anomaly.id)
    return list(session.scalars(stmt))


def run(session: Session, *, org_id: str, livemode: bool, run_id: str) -> SnapshotRun | None:
    return session.scalars(
        select(SnapshotRun).where(
            SnapshotRun.id == run_id,
            SnapshotRun.org_id == org_id,
            SnapshotRun.livemode == livemode,
        )
    ).first()


def answers_fingerprint(session: Session, *, org_id: str, livemode: bool) -> tuple[Any, ...]:
    """What cached analytic answers of one scope depend on in the control plane: every
    cohort's name, type and definition, and the recordings made so far (``api.cache``)."""
    rows = session.execute(
        select(Cohort.id, Cohort.name, Cohort.cohort_type, Cohort.updated_at, Cohort.definition)
        .where(Cohort.org_id == org_id, Cohort.livemode == livemode)
        .order_by(Cohort.id)
    )
    cohorts = tuple(
        (id_, name, kind, str(updated), orjson.dumps(definition, option=orjson.OPT_SORT_KEYS))
        for id_, name, kind, updated, definition in rows
    )
    recorded = session.execute(
        select(func.count(CohortRecording.id), func.max(CohortRecording.id)).where(
            CohortRecording.org_id == org_id, CohortRecording.livemode == livemode
        )
    ).one()
    return cohorts, tuple(recorded)
