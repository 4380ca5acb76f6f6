"""``GET /v1/metrics`` and ``/v1/metrics/{metric}`` over HTTP: the scenario population of
tests/metrics/test_scenarios.py (worked by hand there), parameters, errors, roles.

March 2025 in EUR: mrr 517.5, starting 525, new 70, reactivation 40, expansion 62.5,
contraction 80, churn 100, fx_impact 25, customers 5, customer churn rate 25 %.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from cohortd.app import create_app
from cohortd.keys.models import Role
from cohortd.warehouse import Scope
from tests.engine.state_rows import Cust, Sub, load
from tests.fixtures.api import ApiHarness, make_settings, new_org
from tests.fixtures.live import LiveServer, free_port
from tests.metrics.test_scenarios import CUSTOMERS, SUBS, add_rates

RANGE = "start_date=2025-02-01&end_date=2025-04-15&baseCurrency=EUR"


def _population(api: ApiHarness) -> Scope:
    scope = Scope(api.org_id, livemode=False)
    load(api.warehouse, scope, CUSTOMERS, SUBS)
    add_rates(
        api.warehouse,
        scope,
        [(date(2025, 1, 1), "ARS", Decimal(10)), (date(2025, 3, 31), "ARS", Decimal(8))],
    )
    return scope


def _get(api: ApiHarness, path: str, status: int = 200, **headers: str) -> Any:
    response = api.client.get(path, headers=headers or api.headers("test"))
    assert response.status_code == status, response.text
    return response.json()


def test_metrics_series_and_summary(api_any: ApiHarness) -> None:
    _population(api_any)
    body = _get(api_any, f"/v1/metrics?interval=month&{RANGE}")
    assert (body["object"], body["interval"], body["currency"]) == ("metrics", "month", "EUR")
    feb, mar, apr = body["entries"]
    assert (mar["date"], mar["mrr"], mar["starting_mrr"], mar["fx_impact"]) == (
        "2025-03-31",
        517.5,
        525.0,
        25.0,
    )
    assert (mar["new_mrr"], mar["reactivation_mrr"], mar["expansion_mrr"]) == (70.0, 40.0, 62.5)
    assert (mar["contraction_mrr"], mar["churn_mrr"], mar["customers"]) == (80.0, 100.0, 5)
    assert (apr["date"], apr["complete"]) == ("2025-04-15", False)
    # summary: April against March; mrr 517.5 both → 0 %; customers 5 both; churn rate
    # 0 (April) vs 25 (March) → 100 × (0 − 25) / 25 = −100 %
    assert body["summary"]["mrr"] == {"current": 517.5, "previous": 517.5, "percentage_change": 0.0}
    assert body["summary"]["customer_churn_rate"] == {
        "current": 0.0,
        "previous": 25.0,
        "percentage_change": -100.0,
    }
    assert set(body["summary"]) == {
        "mrr",
        "arr",
        "customers",
        "arpa",
        "customer_churn_rate",
        "mrr_churn_rate",
        "nrr",
    }
    assert feb["mrr"] == 500.0


def test_one_metric(api: ApiHarness) -> None:
    _population(api)
    body = _get(api, f"/v1/metrics/mrr?{RANGE}")
    assert (body["object"], body["metric"], body["currency"]) == ("metric", "mrr", "EUR")
    # 500 → 517.5: +3.5 % (100 × 17.5 / 500); 517.5 → 517.5: 0 %
    assert body["entries"] == [
        {"date": "2025-02-28", "value": 500.0, "percentage_change": None},
        {"date": "2025-03-31", "value": 517.5, "percentage_change": 3.5},
        {"date": "2025-04-15", "value": 517.5, "percentage_change": 0.0},
    ]
    assert body["summary"] == {"current": 517.5, "previous": 517.5, "percentage_change": 0.0}
    counts = _get(api, f"/v1/metrics/churned_customers?{RANGE}")
    assert [e["value"] for e in counts["entries"]] == [0, 1, 0]


def test_filters_and_cohort_restrict_the_universe(api: ApiHarness) -> None:
    scope = _population(api)  # everyone in DE
    # h: in FR, Fintech, 10 EUR from 2024-12-01
    load(api.warehouse, scope, [Cust("h", country="FR", industry="Fintech")])
    load(api.warehouse, scope, [], [Sub("h1", "h", date(2024, 12, 1), None, 10_00, currency="EUR")])
    assert [e["mrr"] for e in _get(api, f"/v1/metrics?region=fr&{RANGE}")["entries"]] == [
        10.0,
        10.0,
        10.0,
    ]
    # the rest: 517.5 in March (the scenario), 527.5 unfiltered
    assert _get(api, f"/v1/metrics?region=dach&{RANGE}")["entries"][1]["mrr"] == 517.5
    assert _get(api, f"/v1/metrics?{RANGE}")["entries"][1]["mrr"] == 527.5
    assert _get(api, f"/v1/metrics?industry=FINTECH&{RANGE}")["entries"][1]["mrr"] == 10.0
    created = api.client.post(
        "/v1/cohorts",
        headers=api.headers("test"),
        json={"name": "Fintech", "definition": {"industries": ["fintech"]}},
    )
    assert created.status_code == 201, created.text
    cohort = _get(api, f"/v1/metrics?cohort_id={created.json()['id']}&{RANGE}")
    assert [e["customers"] for e in cohort["entries"]] == [1, 1, 1]


def test_bad_parameters_are_named(api: ApiHarness) -> None:
    for query, name, status in (
        ("interval=fortnight", "interval", 400),
        ("start_date=2025-13-01", "start_date", 400),
        ("end_date=tomorrow", "end_date", 400),
        ("end_date=2999-01-01", "end_date", 400),
        ("start_date=2025-05-01&end_date=2025-04-01", "start_date", 400),
        ("baseCurrency=XXX", "baseCurrency", 400),
        ("fix_fx=maybe", "fix_fx", 400),
        ("region=atlantis", "region", 400),
        ("currency=ZZZ", "currency", 400),
        ("interval=day&start_date=2022-04-07&end_date=2025-01-01", "start_date", 422),
    ):
        body = _get(api, f"/v1/metrics?{query}", status)
        assert body["errors"][0]["loc"] == ["query", name], (query, body)
        assert body["status"] == status
    _get(api, "/v1/metrics?cohort_id=cohort_nope", 404)
    _get(api, "/v1/metrics/not_a_metric", 404)
    # exactly 1,000 daily entries are allowed
    _get(api, "/v1/metrics?interval=day&start_date=2022-04-08&end_date=2025-01-01")


def test_viewer_keys_read_and_openapi_documents_it(api: ApiHarness) -> None:
    viewer = api.new_key(Role.viewer)
    _get(api, "/v1/metrics", Authorization=f"Bearer {viewer}")
    assert api.client.get("/v1/metrics").status_code == 401
    schema = api.client.get("/openapi.json").json()
    operation = schema["paths"]["/v1/metrics"]["get"]
    assert {"200", "400", "401", "404", "422", "503"} <= set(operation["responses"])
    names = {p["name"] for p in operation["parameters"]}
    assert {"start_date", "end_date", "interval", "baseCurrency", "fix_fx", "cohort_id"} <= names
    assert "/v1/metrics/{metric}" in schema["paths"]


def test_answers_come_from_the_cache_until_a_live_change(api: ApiHarness) -> None:
    _population(api)
    path = f"/v1/metrics/mrr?interval=month&{RANGE}"
    first = api.client.get(path, headers=api.headers("test"))
    again = api.client.get(path, headers=api.headers("test"))
    assert (first.headers["x-cache"], again.headers["x-cache"]) == ("miss", "hit")
    assert again.content == first.content
    assert [e["value"] for e in first.json()["entries"]] == [500.0, 517.5, 517.5]
    # a1 (100 EUR, paying since 2024-12-01) cancelled on 2025-04-01: April 517.5 − 100
    cancel = api.client.post(
        "/v1/subscriptions/a1/cancel",
        json={"effective_date": "2025-04-01"},
        headers=api.headers("test"),
    )
    assert cancel.status_code == 200, cancel.text
    after = api.client.get(path, headers=api.headers("test"))
    assert after.headers["x-cache"] == "miss"
    assert [e["value"] for e in after.json()["entries"]] == [500.0, 517.5, 417.5]


def test_real_http(tmp_path: Path) -> None:
    # an app of its own: a server's shutdown closes its app's warehouse
    app = create_app(make_settings(tmp_path), configure_logs=False)
    with LiveServer(app, free_port()) as server:
        harness = new_org(app)
        _population(harness)
        response = httpx.get(
            f"{server.url}/v1/metrics?{RANGE}", headers=harness.headers("test"), timeout=60
        )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["entries"][1]["mrr"] == 517.5
