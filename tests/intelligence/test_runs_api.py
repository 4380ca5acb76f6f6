"""Recorded snapshot runs, anomalies, membership changes and anomaly settings over HTTP.

Dates are relative to today (T, UTC): L = the last complete month. Cohort "x"
(``segments: [x]``), EUR:

- a: 100 from the first day of L − 3, still paying; health 80
- b: 100 from the first day of L − 3 until the 11th of L; health 80

Month L: starting 200, churn 100 → NRR = 100 × (200 − 100) / 200 = 50 < 90: critical
``low_nrr`` (value 50, threshold 90) for the period starting on L's first day. Months
L − 2 and L − 1 are flat (NRR 100); churn counts 0, 0, 1: below 3, no churn anomaly.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from tests.engine.state_rows import Cust, Sub, load
from tests.fixtures.api import ApiHarness

from cohortd import clock
from cohortd.engine.periods import Interval, first_day, period_of
from cohortd.keys.models import Role
from cohortd.warehouse import Scope

SIGNUP = datetime(2020, 1, 1)


def _last_complete_month_start() -> Any:
    return first_day(period_of(clock.today(), Interval.month) - 1, Interval.month)


@pytest.fixture
def cohort(api: ApiHarness) -> str:
    last = _last_complete_month_start()
    start = first_day(period_of(last, Interval.month) - 3, Interval.month)
    load(
        api.warehouse,
        Scope(api.org_id, livemode=False),
        [
            Cust("a", SIGNUP, segment="x", health_score=80.0, risk_score=10.0),
            Cust("b", SIGNUP, segment="x", health_score=80.0, risk_score=30.0),
        ],
        [
            Sub("a1", "a", start, None, 100_00, currency="EUR"),
            Sub("b1", "b", start, last + timedelta(days=10), 100_00, currency="EUR"),
        ],
    )
    created = api.client.post(
        "/v1/cohorts",
        headers=api.headers("test"),
        json={"name": "x", "definition": {"segments": ["x"]}},
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def _run(api: ApiHarness) -> Any:
    """Start a run and read it once done (the test client returns after the answer's
    background task, the run, has ended)."""
    response = api.client.post("/v1/snapshots/run", headers=api.headers("test"))
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "queued"
    run_id = response.json()["id"]
    done = api.client.get(f"/v1/snapshots/runs/{run_id}", headers=api.headers("test")).json()
    assert done["status"] == "succeeded", done
    return done


def _sql(api: ApiHarness, statement: str) -> None:
    api.warehouse.con.con.execute(statement, [api.org_id])


def test_runs_detect_store_and_diff(api: ApiHarness, cohort: str) -> None:
    first = _run(api)
    assert (first["cohort_count"], first["anomaly_count"], first["trigger"]) == (1, 1, "api")
    (low,) = first["anomalies"]
    assert (low["type"], low["severity"], low["cohort_id"]) == ("low_nrr", "critical", cohort)
    assert (low["value"], low["threshold"]) == (50.0, 90.0)
    assert low["period"] == _last_complete_month_start().isoformat()

    # health falls to 55 for everyone, b leaves (segment y), c joins: average 80 → 55,
    # a drop of 25 ≥ 20 → critical health_decline (value 25, threshold 20)
    _sql(api, "UPDATE customers SET health_score = 55 WHERE org_id = ?")
    _sql(api, "UPDATE customers SET segment = 'y' WHERE org_id = ? AND id = 'b'")
    load(
        api.warehouse, Scope(api.org_id, False), [Cust("c", SIGNUP, segment="x", health_score=55.0)]
    )
    second = _run(api)
    (decline,) = second["anomalies"]
    assert (decline["type"], decline["severity"]) == ("health_decline", "critical")
    assert (decline["value"], decline["threshold"]) == (25.0, 20.0)

    # b returns: the low NRR of month L is seen again but stored only once
    _sql(api, "UPDATE customers SET segment = 'x' WHERE org_id = ? AND id = 'b'")
    assert _run(api)["anomaly_count"] == 0

    listed = api.client.get("/v1/anomalies", headers=api.headers("test")).json()
    assert [a["type"] for a in listed["data"]] == ["low_nrr", "health_decline"]
    only_low = api.client.get("/v1/anomalies?type=low_nrr", headers=api.headers("test")).json()
    assert len(only_low["data"]) == 1
    warnings = api.client.get("/v1/anomalies?severity=warning", headers=api.headers("test"))
    assert warnings.json()["data"] == []
    by_cohort = api.client.get(f"/v1/anomalies?cohort_id={cohort}", headers=api.headers("test"))
    assert len(by_cohort.json()["data"]) == 2
    bad = api.client.get("/v1/anomalies?severity=huge", headers=api.headers("test"))
    assert bad.status_code == 400 and bad.json()["errors"][0]["loc"] == ["query", "severity"]

    # run 1 {a, b} → run 2 {a, c}: c entered, b exited; run 3 {a, b, c}: b entered
    path = f"/v1/cohorts/{cohort}/membership_changes"
    page1 = api.client.get(path + "?limit=2", headers=api.headers("test")).json()
    assert [(c["change"], c["customer_id"]) for c in page1["data"]] == [
        ("entered", "c"),
        ("exited", "b"),
    ]
    assert page1["has_more"] is True
    page2 = api.client.get(
        f"{path}?limit=2&starting_after={page1['next_cursor']}", headers=api.headers("test")
    ).json()
    assert [(c["change"], c["customer_id"]) for c in page2["data"]] == [("entered", "b")]
    assert page2["has_more"] is False and page2["data"][0]["run_id"] != page1["data"][0]["run_id"]


def test_recorded_health_feeds_past_snapshots(api: ApiHarness, cohort: str) -> None:
    # the run records today's averages: health (80 + 80) / 2 = 80, risk (10 + 30) / 2 = 20;
    # the current period's snapshot shows them (past periods without a run show null)
    _run(api)
    data = api.client.get(f"/v1/cohorts/{cohort}/snapshots", headers=api.headers("test")).json()
    current = data["data"][-1]
    assert (current["avg_health_score"], current["avg_risk_score"]) == (80.0, 20.0)
    assert data["data"][0]["avg_health_score"] is None


def test_settings_change_detection(api: ApiHarness, cohort: str) -> None:
    defaults = api.client.get("/v1/settings/anomalies", headers=api.headers("test")).json()
    assert (defaults["low_nrr_warning"], defaults["low_nrr_critical"]) == (100.0, 90.0)
    assert (defaults["churn_min_count"], defaults["vintage_peers"]) == (3, 4)
    put = api.client.put(
        "/v1/settings/anomalies",
        headers=api.headers("test"),
        json={"low_nrr_warning": 40, "low_nrr_critical": 30},
    )
    assert put.status_code == 200, put.text
    assert (put.json()["low_nrr_warning"], put.json()["health_warning_drop"]) == (40.0, 10.0)
    # NRR 50 is not under 40: nothing to report now
    assert _run(api)["anomaly_count"] == 0
    # live mode keeps its own (default) thresholds
    live = api.client.get("/v1/settings/anomalies", headers=api.headers("live")).json()
    assert live["low_nrr_warning"] == 100.0


def test_settings_validation_and_roles(api: ApiHarness) -> None:
    contradiction = api.client.put(
        "/v1/settings/anomalies", headers=api.headers("test"), json={"low_nrr_critical": 120}
    )
    assert contradiction.status_code == 422
    assert contradiction.json()["errors"][0]["loc"] == ["body", "low_nrr_critical"]
    unknown = api.client.put("/v1/settings/anomalies", headers=api.headers("test"), json={"nrr": 1})
    assert unknown.status_code == 422
    viewer = api.new_key(Role.viewer)
    denied = api.client.put(
        "/v1/settings/anomalies", headers=api.headers(key=viewer), json={"low_nrr_warning": 50}
    )
    assert denied.status_code == 403
    assert api.client.post("/v1/snapshots/run", headers=api.headers(key=viewer)).status_code == 403


def test_membership_changes_unknown_cohort_is_404(api: ApiHarness) -> None:
    response = api.client.get(
        "/v1/cohorts/cohort_nope/membership_changes", headers=api.headers("test")
    )
    assert response.status_code == 404
