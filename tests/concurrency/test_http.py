"""Analytic requests over HTTP, on both stacks: the request deadline (503 naming the
setting, the work cancelled), control-plane writes beside a long read, the answer cache
(hits, invalidation by writes, never across organizations or modes)."""

from __future__ import annotations

import threading
from datetime import date, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from cohortd.reports import service as report_service
from cohortd.warehouse import Scope
from tests.concurrency.blocking import WAIT, blocking_read
from tests.concurrency.test_readers import HEAVY
from tests.fixtures.api import ApiHarness
from tests.fixtures.example_small import Customer, Dataset, Stretch, load
from tests.reports.helpers import row
from tests.reports.test_http import settings_changed

URL = "/v1/reports/cohort?date=2024-03-31"
DATA = Dataset(
    customers=[Customer("de1", country="DE"), Customer("us1", country="US")],
    stretches=[
        Stretch("de1", "EUR", "100", date(2024, 1, 5)),
        Stretch("us1", "USD", "50", date(2024, 2, 5), date(2024, 3, 1)),
    ],
)


def _active_queries(api: ApiHarness) -> int:
    """Statements still running in the warehouse's database, besides this one."""
    with psycopg.connect(api.warehouse.url, autocommit=True) as admin:
        found = admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND state = 'active' AND pid <> pg_backend_pid()"
        ).fetchone()
    assert found is not None
    return int(found[0])


def test_past_the_deadline_503_names_the_setting_and_the_work_stops(
    api_any: ApiHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = api_any
    load(api.warehouse, Scope(api.org_id, False), DATA)
    heavy = HEAVY[api.warehouse.name]

    def heavy_report(warehouse: Any, *args: Any, **kwargs: Any) -> Any:
        warehouse.fetch_rows(heavy)  # minutes of work on the request's own reader
        raise AssertionError("the deadline should have stopped the query")

    fired = api.warehouse.deadlines_fired
    with monkeypatch.context() as patch, settings_changed(api, query_timeout_seconds=0.5):
        patch.setattr(report_service, "run_report", heavy_report)
        response = api.client.get(URL, headers=api.headers())
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["type"].endswith("query-timeout")
    assert problem["setting"] == "COHORTD_QUERY_TIMEOUT_SECONDS"
    assert "COHORTD_QUERY_TIMEOUT_SECONDS" in problem["detail"]
    assert api.warehouse.deadlines_fired == fired + 1
    assert api.warehouse.readers_in_flight == 0
    if api.warehouse.name == "postgres":
        assert _active_queries(api) == 0
    # the same report, unpatched, answers (nothing was cached for the 503)
    after = api.client.get(URL, headers=api.headers())
    assert after.status_code == 200 and after.headers["x-cache"] == "miss"


def test_control_plane_writes_do_not_wait_for_a_long_read(
    api_any: ApiHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A report blocked inside its database read; meanwhile a cohort is created (its
    member count is an analytic read too) and the anomaly settings change."""
    api = api_any
    load(api.warehouse, Scope(api.org_id, False), DATA)
    original = report_service.run_report
    answers: list[httpx.Response] = []

    with blocking_read(api.warehouse) as block:

        def blocked_report(warehouse: Any, *args: Any, **kwargs: Any) -> Any:
            block.run()
            return original(warehouse, *args, **kwargs)

        monkeypatch.setattr(report_service, "run_report", blocked_report)
        reader = threading.Thread(
            target=lambda: answers.append(api.client.get(URL, headers=api.headers()))
        )
        reader.start()
        assert block.started.wait(WAIT)
        created = api.client.post(
            "/v1/cohorts",
            json={"name": "Germany", "definition": {"countries": ["DE"]}},
            headers=api.headers(),
        )
        assert created.status_code == 201, created.text
        assert created.json()["member_count"] == 1  # de1
        changed = api.client.put(
            "/v1/settings/anomalies", json={"churn_min_count": 3}, headers=api.headers()
        )
        assert changed.status_code == 200, changed.text
        assert not block.finished.is_set() and not answers  # the report is still running
        block.release()
        reader.join(WAIT)
    assert [a.status_code for a in answers] == [200]


def _rates(currency: str, rate: str, first: date, last: date) -> list[dict[str, str]]:
    days = (last - first).days + 1
    return [
        {"date": (first + timedelta(days=i)).isoformat(), "currency": currency, "rate": rate}
        for i in range(days)
    ]


def test_the_cache_serves_identical_requests_until_a_write(api_any: ApiHarness) -> None:
    api = api_any
    load(api.warehouse, Scope(api.org_id, False), DATA)
    cache = api.app.state.answers
    first = api.client.get(URL, headers=api.headers())
    assert first.status_code == 200 and first.headers["x-cache"] == "miss"
    hits = cache.hits
    again = api.client.get(URL, headers=api.headers())
    assert again.headers["x-cache"] == "hit" and cache.hits == hits + 1
    assert again.content == first.content
    # the same question spelled differently is the same request
    spelled = api.client.get(URL + "&interval=month&format=list", headers=api.headers())
    assert spelled.headers["x-cache"] == "hit"
    # a client may ask for a fresh answer
    fresh = api.client.get(URL, headers=api.headers(**{"Cache-Control": "no-cache"}))
    assert fresh.headers["x-cache"] == "miss" and fresh.content == first.content

    # a write to the scope: the org's own rate, 2 USD per EUR every day of the report
    rates = _rates("USD", "2", date(2024, 1, 1), date(2024, 3, 31))
    written = api.client.post("/v1/exchange_rates", json=rates, headers=api.headers())
    assert written.status_code == 201, written.text
    after = api.client.get(URL, headers=api.headers())
    assert after.headers["x-cache"] == "miss"
    # de1: 100 EUR x 2 USD/EUR = 200.00 USD, the January cohort's initial MRR
    assert row(after.json(), "2024-01-31")["initial_mrr"] == 200.0
    assert row(first.json(), "2024-01-31")["initial_mrr"] != 200.0

    # a subscriber patch is a write to the scope too
    patched = api.client.patch("/v1/subscribers/de1", json={"tags": ["vip"]}, headers=api.headers())
    assert patched.status_code == 200, patched.text
    assert api.client.get(URL, headers=api.headers()).headers["x-cache"] == "miss"
    assert api.client.get(URL, headers=api.headers()).headers["x-cache"] == "hit"


def test_the_cache_never_serves_another_organization_or_mode(api_any: ApiHarness) -> None:
    from tests.fixtures.api import new_org

    api = api_any
    load(api.warehouse, Scope(api.org_id, False), DATA)
    assert api.client.get(URL, headers=api.headers()).status_code == 200
    assert api.client.get(URL, headers=api.headers()).headers["x-cache"] == "hit"
    # the live mode of the same organization: its own (empty) answer
    live = api.client.get(URL, headers=api.headers("live"))
    assert live.headers["x-cache"] == "miss"
    assert live.json()["result"] == {"list": [{"cohort_group": "average", "periods": []}]}
    # another organization with the same base currency and no data
    other = new_org(api.app)
    other_answer = api.client.get(URL, headers={"Authorization": f"Bearer {other.keys['test']}"})
    assert other_answer.headers["x-cache"] == "miss"
    assert other_answer.json()["result"] == {"list": [{"cohort_group": "average", "periods": []}]}


def test_cohort_answers_change_with_the_cohort(api_any: ApiHarness) -> None:
    """A curve is cached per cohort definition: editing the cohort is a new request."""
    api = api_any
    load(api.warehouse, Scope(api.org_id, False), DATA)
    created = api.client.post(
        "/v1/cohorts",
        json={"name": "DE", "definition": {"countries": ["DE"]}},
        headers=api.headers(),
    )
    cohort_id = created.json()["id"]
    curve = f"/v1/cohorts/{cohort_id}/curve?months=3"
    assert api.client.get(curve, headers=api.headers()).headers["x-cache"] == "miss"
    assert api.client.get(curve, headers=api.headers()).headers["x-cache"] == "hit"
    edited = api.client.patch(
        f"/v1/cohorts/{cohort_id}",
        json={"definition": {"countries": ["US"]}},
        headers=api.headers(),
    )
    assert edited.status_code == 200, edited.text
    assert api.client.get(curve, headers=api.headers()).headers["x-cache"] == "miss"
