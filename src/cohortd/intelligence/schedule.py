"""The built-in daily snapshot run (``COHORTD_SNAPSHOT_SCHEDULE`` = "HH:MM", UTC).

A daemon thread sleeps until the next HH:MM, then records every organization in both
modes, each as a run job executed in the thread (``intelligence.jobs``: a failing
organization's run is marked failed and the others go on; one already in flight is left
to finish). Off
when the setting is unset. ``start`` returns a handle whose ``stop`` ends the thread at
application shutdown.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta

from sqlalchemy.orm import Session, sessionmaker

from cohortd.intelligence import jobs, repository
from cohortd.intelligence.service import Caller
from cohortd.warehouse import Warehouse

log = logging.getLogger("cohortd.snapshots")


def parse_schedule(value: str) -> time:
    """``HH:MM`` (24 h, UTC) → a time; anything else raises ``ValueError``."""
    hours, _, minutes = value.strip().partition(":")
    if len(hours) != 2 or len(minutes) != 2 or not (hours + minutes).isdigit():
        raise ValueError(f"COHORTD_SNAPSHOT_SCHEDULE must be HH:MM, not {value!r}")
    return time(int(hours), int(minutes))


def next_run(now: datetime, at: time) -> datetime:
    """The first ``at`` strictly after ``now`` (UTC)."""
    candidate = datetime.combine(now.date(), at, tzinfo=UTC)
    return candidate if candidate > now else candidate + timedelta(days=1)


def record_all(sessions: sessionmaker[Session], warehouse: Warehouse, *, trigger: str) -> int:
    """One run per organization and mode; returns how many succeeded."""
    done = 0
    with sessions() as session:
        org_ids = repository.organization_ids(session)
    for org_id in org_ids:
        for livemode in (False, True):
            with sessions() as session:
                org = repository.organization(session, org_id)
                if org is None:
                    continue
                caller = Caller(org_id, livemode, org.base_currency)
            started = jobs.record(sessions, warehouse, caller, trigger=trigger)
            if started.created and started.run.status == "succeeded":
                done += 1
            elif started.created:  # e.g. a currency without rates: logged, go on
                log.warning("snapshot run %s failed: %s", started.run.id, started.run.error)
    return done


@dataclass
class Schedule:
    """The running schedule thread."""

    thread: threading.Thread
    stopping: threading.Event = field(default_factory=threading.Event)

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=5)


def start(
    at: str | None,
    sessions: sessionmaker[Session],
    warehouse: Callable[[], Warehouse],
) -> Schedule | None:
    """Start the daily run at ``at`` (None: off, nothing started)."""
    if not at:
        return None
    when = parse_schedule(at)
    stopping = threading.Event()

    def loop() -> None:
        while not stopping.is_set():
            now = datetime.now(UTC)
            if stopping.wait((next_run(now, when) - now).total_seconds()):
                return
            try:
                count = record_all(sessions, warehouse(), trigger="schedule")
                log.info("scheduled snapshot run recorded %d organization modes", count)
            except Exception:  # the thread must survive a bad night
                log.exception("scheduled snapshot run failed")

    thread = threading.Thread(target=loop, name="cohortd-snapshots", daemon=True)
    schedule = Schedule(thread, stopping)
    thread.start()
    return schedule
