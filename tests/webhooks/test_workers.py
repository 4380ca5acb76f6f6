"""Claims and workers: two claimers never share a delivery (SQLite and PostgreSQL), a
worker killed with SIGKILL mid-burst loses nothing, two workers never send one attempt
twice at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from cohortd.db import make_engine, make_sessionmaker, utcnow
from cohortd.db.migrate import upgrade
from cohortd.events import service as events
from cohortd.keys import service as keys
from cohortd.webhooks import repository
from cohortd.webhooks.models import Delivery
from tests.fixtures.api import ApiHarness
from tests.webhooks.helpers import create_destination
from tests.webhooks.receiver import Receiver

ROOT = Path(__file__).resolve().parents[2]


def test_two_claimers_never_share_a_delivery(hooks_any: ApiHarness) -> None:
    api = hooks_any
    # deliveries only for import.* so the cohort-less test stays quiet; the rows below
    # are due a year from now, so the app's own loop leaves them alone
    dest = create_destination(api, "http://127.0.0.1:9/x", event_types=["import.*"])
    sessions = api.app.state.sessions
    later = utcnow() + timedelta(days=365)
    with sessions.begin() as session:
        event_id = events.record(
            session,
            org_id=api.org_id,
            livemode=False,
            draft=events.EventDraft(type="cohort.created", data={}),
        )
        rows = [
            events.delivery_row(event_id, dest["id"], api.org_id, False, later) for _ in range(120)
        ]
        repository.add_deliveries(session, rows)
    wanted = {str(r["id"]) for r in rows}
    claimed: dict[str, list[str]] = {"a": [], "b": []}
    when = later + timedelta(seconds=1)

    def claimer(name: str) -> None:
        n = 0
        while True:
            n += 1
            with sessions.begin() as session:
                got = repository.claim_due(
                    session,
                    now=when,
                    lease_until=when + timedelta(minutes=5),
                    token=f"{name}-{n}",
                    limit=7,
                )
                ids = [d.id for d in got if d.id in wanted]
            if not got:
                return
            claimed[name] += ids

    threads = [threading.Thread(target=claimer, args=(n,)) for n in claimed]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not set(claimed["a"]) & set(claimed["b"])
    assert set(claimed["a"]) | set(claimed["b"]) == wanted
    # a lapsed lease makes a row claimable again; a live one does not
    with sessions.begin() as session:
        again = repository.claim_due(
            session, now=when, lease_until=when + timedelta(minutes=5), token="c", limit=500
        )
        assert [d.id for d in again if d.id in wanted] == []
        after_lease = when + timedelta(minutes=6)
        retaken = repository.claim_due(
            session, now=after_lease, lease_until=after_lease, token="d", limit=500
        )
        assert {d.id for d in retaken if d.id in wanted} == wanted
    api.client.delete(f"/v1/destinations/{dest['id']}", headers=api.headers())


# -- worker processes --------------------------------------------------------------------
def _plane(tmp_path: Path, receiver: Receiver, count: int) -> tuple[dict[str, str], str]:
    """A control plane with one organization, one destination and ``count`` events."""
    url = f"sqlite:///{tmp_path / 'control.sqlite3'}"
    upgrade(url)
    env = {
        **os.environ,
        "COHORTD_DATA_DIR": str(tmp_path),
        "COHORTD_DATABASE_URL": url,
        "COHORTD_WEBHOOK_RETRY_SCHEDULE": "0.2",
        "COHORTD_WEBHOOK_LEASE_S": "8",  # > timeout + recording on a busy machine
        "COHORTD_WEBHOOK_TIMEOUT_S": "1.5",
        "COHORTD_WEBHOOK_CONCURRENCY": "8",
        "COHORTD_LOG_LEVEL": "WARNING",
    }
    from cohortd.config import Settings
    from cohortd.webhooks import service as hooks
    from cohortd.webhooks.schemas import DestinationCreate

    settings = Settings(data_dir=tmp_path, database_url=url)
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    with sessions.begin() as session:
        org = keys.create_organization(session, name="Workers", base_currency="USD")
        tenant = type("T", (), {"org_id": org.id, "livemode": False})()
        hooks.create_destination(
            session, tenant, DestinationCreate(url=receiver.url), settings=settings
        )
        events.record_many(
            session,
            org_id=org.id,
            livemode=False,
            drafts=[events.EventDraft(type="cohort.created", data={"n": n}) for n in range(count)],
        )
    engine.dispose()
    return env, url


def _worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "cohortd.cli.main", "worker"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _statuses(url: str) -> Counter[str]:
    engine = make_engine(url)
    with make_sessionmaker(engine)() as session:
        found = Counter(session.scalars(select(Delivery.status)))
    engine.dispose()
    return found


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _add_events(url: str, count: int, start: int) -> None:
    engine = make_engine(url)
    with make_sessionmaker(engine).begin() as session:
        org_id = session.scalars(select(Delivery.org_id)).first()
        assert org_id is not None
        events.record_many(
            session,
            org_id=org_id,
            livemode=False,
            drafts=[
                events.EventDraft(type="cohort.created", data={"n": n})
                for n in range(start, start + count)
            ],
        )
    engine.dispose()


def test_two_workers_share_the_work_and_a_sigkill_loses_nothing(
    tmp_path: Path, receiver: Receiver
) -> None:
    # one test, so the workers' start-up (a few seconds each) is paid once
    env, url = _plane(tmp_path, receiver, 150)
    receiver.delay_s = 0.02
    workers = [_worker(env), _worker(env)]
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and _statuses(url)["succeeded"] < 150:
            time.sleep(0.3)
        # two workers at once: every event sent exactly once (nobody failed, no lease
        # lapsed, so no attempt was ever sent by both)
        counts = Counter(r.headers["webhook-id"] for r in receiver.received())
        assert len(counts) == 150 and set(counts.values()) == {1}
        # a burst, and one worker killed with SIGKILL in the middle of it
        receiver.delay_s = 0.05
        _add_events(url, 300, 150)
        assert len(receiver.wait_for(150 + 30, timeout=60)) >= 180, "the burst did not start"
        workers[0].send_signal(signal.SIGKILL)
        workers[0].wait(timeout=10)
        killed_at = time.time()
        assert _statuses(url)["pending"] > 0, "the burst ended before the kill"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and _statuses(url)["succeeded"] < 450:
            time.sleep(0.3)
    finally:
        for process in workers:
            _stop(process)
    received = Counter(r.headers["webhook-id"] for r in receiver.received())
    assert len(received) == 450  # every event at least once
    assert _statuses(url) == Counter({"succeeded": 450})
    # a second copy only of what the killed worker had sent but not yet recorded: an
    # event first sent after the kill is never sent twice
    for event_id, n in received.items():
        if n > 1:
            assert min(r.at for r in receiver.received(event_id)) < killed_at
