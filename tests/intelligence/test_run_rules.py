"""A snapshot run applies accelerating_churn and lagging_vintage end to end.

Dates are relative to today (UTC); L = the last complete month, Q = the current quarter.
All amounts in USD (the organization's currency: no exchange rates involved).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from tests.engine.state_rows import Cust, Sub, load
from tests.fixtures.api import ApiHarness

from cohortd import clock
from cohortd.engine.periods import Interval, first_day, period_of
from cohortd.warehouse import Scope


def _anomalies(api: ApiHarness, kind: str) -> list[dict[str, Any]]:
    run = api.client.post("/v1/snapshots/run", headers=api.headers("test"))
    assert run.status_code == 202, run.text
    listed = api.client.get(f"/v1/anomalies?type={kind}", headers=api.headers("test"))
    return list(listed.json()["data"])


def test_accelerating_churn_from_a_run(api: ApiHarness) -> None:
    # Seven customers paying 10 since long ago; one churns on the 5th of L − 2, two in
    # L − 1, three in L: counts 1 → 2 → 3, up twice, 3 ≥ 3 churns and 3 ≥ 2 × 1 → critical
    # (value 3, threshold 2 × 1 = 2).
    last = period_of(clock.today(), Interval.month) - 1
    since = first_day(last - 12, Interval.month)
    ends = [last - 2] + [last - 1] * 2 + [last] * 3 + [None]
    subs = [
        Sub(
            f"s{i}",
            f"c{i}",
            since,
            None if month is None else first_day(month, Interval.month) + timedelta(days=4),
            10_00,
        )
        for i, month in enumerate(ends)
    ]
    load(
        api.warehouse,
        Scope(api.org_id, False),
        [Cust(f"c{i}", datetime(2020, 1, 1)) for i in range(len(ends))],
        subs,
    )
    created = api.client.post(
        "/v1/cohorts", headers=api.headers("test"), json={"name": "all", "definition": {}}
    )
    assert created.status_code == 201
    (found,) = _anomalies(api, "accelerating_churn")
    assert (found["severity"], found["value"], found["threshold"]) == ("critical", 3.0, 2.0)
    assert found["period"] == first_day(last, Interval.month).isoformat()


def test_lagging_vintage_from_a_run(api: ApiHarness) -> None:
    # Five vintages Q − 6 .. Q − 2, one customer each, created and paying 100 from the
    # quarter's first day. The newest halves to 50 from L's first day. At its latest
    # complete month k (= L − its first month) it keeps 50 %; the four previous vintages
    # keep 100 % at k: mean 100, bound 100 − 10 = 90, 50 < 90 → warning "M{k}".
    today = clock.today()
    quarter = period_of(today, Interval.quarter)
    last = period_of(today, Interval.month) - 1
    customers, subs = [], []
    for i, q in enumerate(range(quarter - 6, quarter - 1)):
        start = first_day(q, Interval.quarter)
        customers.append(Cust(f"v{i}", datetime(start.year, start.month, start.day)))
        newest = q == quarter - 2
        cut = first_day(last, Interval.month) if newest else None
        subs.append(Sub(f"v{i}a", f"v{i}", start, cut, 100_00))
        if newest:
            subs.append(Sub(f"v{i}b", f"v{i}", cut, None, 50_00))  # type: ignore[arg-type]
            age = last - period_of(start, Interval.month)
    load(api.warehouse, Scope(api.org_id, False), customers, subs)
    generated = api.client.post("/api/cohorts/definitions", headers=api.headers("test"))
    assert generated.json()["breakdown"]["vintage"] == 5
    (found,) = _anomalies(api, "lagging_vintage")
    assert (found["severity"], found["value"], found["threshold"]) == ("warning", 50.0, 90.0)
    assert found["period"] == f"M{age}"
