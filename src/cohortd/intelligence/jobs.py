"""Snapshot runs as jobs: queued → running → succeeded | failed.

``start`` records a queued run (one short transaction) or, when the organization and mode
already have one queued or running, answers that one: one run at a time per organization
and mode, held by the unique ``active_key``. ``execute`` then runs it wherever the caller
chooses (a background task of the server, the CLI inline, the schedule's thread):

1. one short transaction marks it running;
2. the cohorts, thresholds and previous member sets are read (no transaction kept open);
3. the warehouse computes every cohort together (``runs.compute``), with no
   control-plane transaction open: other writes never wait behind a run;
4. ONE short transaction writes the recordings, the anomalies and the run's end.

While the run works, a heartbeat thread touches ``heartbeat_at`` every
``HEARTBEAT_SECONDS``. A queued or running run not heard of for ``STALE_AFTER`` (its
process was killed) is marked failed when a server starts, when a run is asked for and
when runs are read; so a dead run blocks a new one for two minutes at most.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from cohortd import clock
from cohortd.api.paging import Page, PageParams, paginate_select
from cohortd.db import utcnow
from cohortd.errors import NotFound
from cohortd.events.run_events import record_run_events
from cohortd.ids import new_id
from cohortd.intelligence import kept, repository, runs
from cohortd.intelligence.models import Anomaly, SnapshotRun
from cohortd.intelligence.service import Caller
from cohortd.warehouse import Warehouse

log = logging.getLogger("cohortd.snapshots")

HEARTBEAT_SECONDS: Final = 20.0
STALE_AFTER: Final = timedelta(minutes=2)
STALE_ERROR: Final = "the run stopped without finishing (its process ended)"
ACTIVE: Final = ("queued", "running")


def active_key(caller: Caller) -> str:
    return f"{caller.org_id}:{int(caller.livemode)}"


def fail_stale(session: Session) -> int:
    """Mark failed the runs whose heartbeat stopped ``STALE_AFTER`` ago."""
    now = utcnow()
    return repository.fail_stale(
        session, heard_before=now - STALE_AFTER, error=STALE_ERROR, now=now
    )


@dataclass(frozen=True)
class Started:
    """The run to follow, and whether this call created it (False: one was in flight)."""

    run: SnapshotRun
    created: bool


def start(sessions: sessionmaker[Session], caller: Caller, *, trigger: str) -> Started:
    """A new queued run for the caller's organization and mode, or the one in flight."""
    key = active_key(caller)
    with sessions.begin() as session:
        fail_stale(session)
    try:
        with sessions.begin() as session:
            run = SnapshotRun(
                id=new_id("snaprun"),
                org_id=caller.org_id,
                livemode=caller.livemode,
                run_date=clock.today(),
                trigger=trigger,
                status="queued",
                steps_done=0,
                cohort_count=0,
                anomaly_count=0,
                active_key=key,
                created_at=utcnow(),
            )
            session.add(run)
            session.flush()
            session.expunge(run)
            return Started(run, True)
    except IntegrityError:
        with sessions() as session:
            found = repository.active_run(session, active_key=key)
            if found is None:  # it finished meanwhile: ask again
                return start(sessions, caller, trigger=trigger)
            session.expunge(found)
            return Started(found, False)


Progress = Callable[[str, int, int], None]  # step name, steps done, steps in all


def execute(
    sessions: sessionmaker[Session],
    warehouse: Warehouse,
    run_id: str,
    *,
    progress: Progress | None = None,
) -> SnapshotRun:
    """Run a queued run to its end (see the module's steps); never raises for a failed
    computation: the run is marked failed with the error's kind (never its text, which
    may quote data)."""
    with sessions.begin() as session:
        run = _run(session, run_id)
        if run.status != "queued":
            session.expunge(run)
            return run
        run.status, run.step = "running", runs.STEPS[0]
        run.started_at = run.heartbeat_at = utcnow()
        caller = _caller(session, run)
        run_date = run.run_date

    def step(name: str) -> None:
        done = runs.STEPS.index(name)
        with sessions.begin() as session:
            found = _run(session, run_id)
            found.step, found.steps_done, found.heartbeat_at = name, done, utcnow()
        if progress is not None:
            progress(name, done, len(runs.STEPS))

    try:
        with _heartbeat(sessions, run_id):
            with sessions() as session:
                inputs = runs.read_inputs(session, caller)
            version = kept.data_version(warehouse, caller)
            outcome = runs.compute(warehouse, caller, inputs, today=run_date, step=step)
            unchanged = kept.data_version(warehouse, caller) == version  # no write meanwhile
            with sessions.begin() as session:
                run = _run(session, run_id)
                stored = runs.store(session, run, inputs, outcome)
                run.data_version = version if unchanged else None
                _finish(run, "succeeded", None)
                run.cohort_count = len(outcome.recordings)
                run.anomaly_count = len(stored)
                session.flush()
                alive = repository.cohort_ids(session, org_id=run.org_id, livemode=run.livemode)
                record_run_events(  # the run's events, in the transaction that stores it
                    session,
                    org_id=run.org_id,
                    livemode=run.livemode,
                    run=view(run, stored),
                    anomalies=[runs.anomaly_view(a) for a in stored],
                    member_sets=[
                        (r.cohort_id, _members(inputs, r.cohort_id), r.member_ids)
                        for r in outcome.recordings
                        if r.cohort_id in alive
                    ],
                )
    except Exception as error:
        log.error("snapshot run %s failed: %s", run_id, type(error).__name__)
        reason = getattr(error, "title", None) or type(error).__name__
        with sessions.begin() as session:
            run = _run(session, run_id)
            _finish(run, "failed", f"the run failed: {reason}"[:200])
    if progress is not None:
        progress(runs.STEPS[-1], len(runs.STEPS), len(runs.STEPS))
    with sessions() as session:
        run = _run(session, run_id)
        session.expunge(run)
        return run


def _members(inputs: runs.Inputs, cohort_id: str) -> frozenset[str] | None:
    before = inputs.previous.get(cohort_id)
    return None if before is None else before.members


def _finish(run: SnapshotRun, status: str, error: str | None) -> None:
    run.status, run.error, run.active_key = status, error, None
    run.step = None
    if status == "succeeded":
        run.steps_done = len(runs.STEPS)
    run.completed_at = run.heartbeat_at = utcnow()


def _run(session: Session, run_id: str) -> SnapshotRun:
    found = repository.run_by_id(session, run_id)
    if found is None:
        raise NotFound(f"No snapshot run '{run_id}'.")
    return found


def _caller(session: Session, run: SnapshotRun) -> Caller:
    org = repository.organization(session, run.org_id)
    if org is None:
        raise NotFound(f"No organization '{run.org_id}'.")
    return Caller(run.org_id, run.livemode, org.base_currency)


@contextmanager
def _heartbeat(sessions: sessionmaker[Session], run_id: str) -> Iterator[None]:
    """Touch the run's ``heartbeat_at`` every ``HEARTBEAT_SECONDS`` while the block runs."""
    stopping = threading.Event()

    def beat() -> None:
        while not stopping.wait(HEARTBEAT_SECONDS):
            try:
                with sessions.begin() as session:
                    _run(session, run_id).heartbeat_at = utcnow()
            except Exception as error:  # a missed beat is not the run's failure
                log.warning("snapshot run heartbeat missed: %s", type(error).__name__)

    thread = threading.Thread(target=beat, name="cohortd-snapshot-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stopping.set()
        thread.join(timeout=HEARTBEAT_SECONDS + 5)


def record(
    sessions: sessionmaker[Session],
    warehouse: Warehouse,
    caller: Caller,
    *,
    trigger: str,
    progress: Progress | None = None,
) -> Started:
    """Start a run and execute it here (the CLI and the schedule); a run already in
    flight for the organization and mode is answered as it is, not waited for."""
    started = start(sessions, caller, trigger=trigger)
    if not started.created:
        return started
    return Started(execute(sessions, warehouse, started.run.id, progress=progress), True)


# -- reading ----------------------------------------------------------------------------


def get(session: Session, caller: Caller, run_id: str) -> SnapshotRun:
    found = repository.run(session, org_id=caller.org_id, livemode=caller.livemode, run_id=run_id)
    if found is None:
        raise NotFound(f"No snapshot run '{run_id}' in this mode.")
    return found


def page(session: Session, caller: Caller, params: PageParams) -> Page[SnapshotRun]:
    stmt = repository.runs_query(org_id=caller.org_id, livemode=caller.livemode)
    return paginate_select(session, stmt, SnapshotRun.id, params)


def views(session: Session, found: list[SnapshotRun]) -> list[dict[str, Any]]:
    """The runs as the API shows them, each with the anomalies it detected."""
    detected: dict[str, list[Anomaly]] = {}
    for anomaly in repository.run_anomalies(session, [r.id for r in found]):
        detected.setdefault(anomaly.run_id, []).append(anomaly)
    return [view(r, detected.get(r.id, [])) for r in found]


def view(run: SnapshotRun, anomalies: list[Anomaly]) -> dict[str, Any]:
    done = run.status == "succeeded"
    return {
        "id": run.id,
        "object": "snapshot_run",
        "livemode": run.livemode,
        "status": run.status,
        "run_date": run.run_date.isoformat(),
        "trigger": run.trigger,
        "progress": {
            "step": run.step,
            "steps_done": run.steps_done,
            "steps": len(runs.STEPS),
        },
        "cohort_count": run.cohort_count if done else None,
        "anomaly_count": run.anomaly_count if done else None,
        "anomalies": [runs.anomaly_view(a) for a in anomalies],
        "error": run.error,
        "created_at": run.created_at,
        "started_at": run.started_at,
        "completed_at": run.completed_at,
    }
