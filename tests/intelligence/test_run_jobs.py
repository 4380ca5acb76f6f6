"""Snapshot runs as jobs over real HTTP (uvicorn on 127.0.0.1), on both stacks.

- the lifecycle: 202 ``queued``, then ``succeeded`` with counts, listed;
- a run in flight holds no control-plane transaction: a ``PUT /v1/settings/anomalies``
  answers while the run's computation is held open (asserted by order of events: the
  computation has not ended when the PUT's answer arrives), and a second POST answers the
  run in flight instead of starting another;
- a failing computation marks the run failed and frees the organization for a new run;
- a run whose heartbeat stopped is marked failed and does not block a new one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from tests.engine.state_rows import Cust, Sub, load
from tests.fixtures.api import ApiHarness, make_settings, new_org
from tests.fixtures.live import LiveServer, free_port

from cohortd.app import create_app
from cohortd.db import utcnow
from cohortd.intelligence import jobs, runs
from cohortd.intelligence.models import SnapshotRun
from cohortd.warehouse import Scope

WAIT = 120.0  # upper bound for a run to end on a loaded machine (not a timing assertion)


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[FastAPI, str]]:
    overrides: dict[str, object] = {}
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_database")
        overrides = {"database_url": url, "warehouse_url": url}
    app = create_app(
        make_settings(tmp_path_factory.mktemp("runs"), **overrides), configure_logs=False
    )
    with LiveServer(app, free_port()) as server:
        yield app, server.url


@pytest.fixture
def org(live: tuple[FastAPI, str]) -> Iterator[tuple[ApiHarness, httpx.Client]]:
    app, url = live
    harness = new_org(app)
    load(
        app.state.warehouse,
        Scope(harness.org_id, False),
        [Cust("a", datetime(2024, 1, 1), segment="x"), Cust("b", datetime(2024, 2, 1))],
        [Sub("a1", "a", datetime(2024, 1, 1).date(), None, 100_00)],
    )
    with httpx.Client(base_url=url, headers=harness.headers("test"), timeout=60) as client:
        created = client.post("/v1/cohorts", json={"name": "x", "definition": {"segments": ["x"]}})
        assert created.status_code == 201, created.text
        yield harness, client


def _until_done(client: httpx.Client, run_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        found = client.get(f"/v1/snapshots/runs/{run_id}")
        assert found.status_code == 200, found.text
        if found.json()["status"] in ("succeeded", "failed"):
            return dict(found.json())
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} did not end")


def test_lifecycle(org: tuple[ApiHarness, httpx.Client]) -> None:
    _, client = org
    started = client.post("/v1/snapshots/run")
    assert started.status_code == 202, started.text
    body = started.json()
    assert body["id"].startswith("snaprun_") and body["status"] == "queued"
    assert (body["cohort_count"], body["anomaly_count"]) == (None, None)
    done = _until_done(client, body["id"])
    assert done["status"] == "succeeded" and done["error"] is None
    assert done["cohort_count"] == 1 and done["anomaly_count"] == len(done["anomalies"])
    assert done["progress"] == {"step": None, "steps_done": 4, "steps": 4}
    assert done["started_at"] and done["completed_at"]
    listed = client.get("/v1/snapshots/runs").json()
    assert [r["id"] for r in listed["data"]] == [body["id"]]
    assert client.get("/v1/snapshots/runs/snaprun_nope").status_code == 404


@pytest.fixture
def held(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, threading.Event]]:
    """``runs.compute`` held open until released: events entered / release / ended."""
    events = {name: threading.Event() for name in ("entered", "release", "ended")}
    original: Callable[..., runs.Outcome] = runs.compute

    def compute(*args: Any, **kwargs: Any) -> runs.Outcome:
        events["entered"].set()
        assert events["release"].wait(WAIT)
        try:
            return original(*args, **kwargs)
        finally:
            events["ended"].set()

    monkeypatch.setattr(runs, "compute", compute)
    yield events
    events["release"].set()


def test_writes_do_not_wait_behind_a_run(
    org: tuple[ApiHarness, httpx.Client], held: dict[str, threading.Event]
) -> None:
    _, client = org
    run_id = client.post("/v1/snapshots/run").json()["id"]
    assert held["entered"].wait(WAIT)
    assert client.get(f"/v1/snapshots/runs/{run_id}").json()["status"] == "running"
    # a second request answers the run in flight (one run at a time per org and mode)
    again = client.post("/v1/snapshots/run")
    assert again.status_code == 202 and again.json()["id"] == run_id
    put = client.put("/v1/settings/anomalies", json={"low_nrr_warning": 95})
    assert put.status_code == 200, put.text
    assert not held["ended"].is_set()  # answered while the computation was still held
    held["release"].set()
    done = _until_done(client, run_id)
    assert done["status"] == "succeeded" and held["ended"].is_set()


def test_a_failing_run_is_marked_failed(
    org: tuple[ApiHarness, httpx.Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, client = org

    def broken(*_: Any, **__: Any) -> runs.Outcome:
        raise RuntimeError("customer ann@example.com broke it")

    monkeypatch.setattr(runs, "compute", broken)
    failed = _until_done(client, client.post("/v1/snapshots/run").json()["id"])
    assert failed["status"] == "failed" and failed["cohort_count"] is None
    assert "RuntimeError" in failed["error"] and "ann@" not in failed["error"]
    monkeypatch.undo()
    # nothing was recorded, and the organization may run again
    fresh = client.post("/v1/snapshots/run").json()
    assert fresh["id"] != failed["id"]
    assert _until_done(client, fresh["id"])["status"] == "succeeded"


def test_a_dead_run_is_failed_and_does_not_block(
    live: tuple[FastAPI, str], org: tuple[ApiHarness, httpx.Client]
) -> None:
    app, _ = live
    harness, client = org
    old = utcnow() - jobs.STALE_AFTER - timedelta(seconds=5)
    with app.state.sessions.begin() as session:  # a run whose process was killed
        session.add(
            SnapshotRun(
                id="snaprun_dead" + harness.org_id[-8:], org_id=harness.org_id, livemode=False,
                run_date=old.date(), trigger="api", status="running", steps_done=1,
                active_key=f"{harness.org_id}:0", created_at=old, started_at=old,
                heartbeat_at=old,
            )
        )  # fmt: skip
    fresh = client.post("/v1/snapshots/run")
    assert fresh.status_code == 202 and not fresh.json()["id"].startswith("snaprun_dead")
    dead = client.get(f"/v1/snapshots/runs/snaprun_dead{harness.org_id[-8:]}").json()
    assert (dead["status"], dead["error"]) == ("failed", jobs.STALE_ERROR)
    assert _until_done(client, fresh.json()["id"])["status"] == "succeeded"
