"""``GET /v1/cohorts/{id}/snapshots``, ``/curve`` and ``/v1/cohorts/compare`` over HTTP.

The snapshot population is the one of tests/engine/test_snapshots.py (worked by hand
there): in March 2025, at Mar 31's rates, starting 575, new 70, reactivation 40,
expansion 50, contraction 80, churn 50, ending 605, fx_impact 25, NRR 86.09, GRR 77.39.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from tests.engine.state_rows import Cust, Sub, load
from tests.engine.test_snapshots import CUSTOMERS, SUBS, _rates
from tests.fixtures.api import ApiHarness

from cohortd import clock
from cohortd.warehouse import Scope


def _cohort(api: ApiHarness, name: str, definition: dict[str, Any]) -> str:
    created = api.client.post(
        "/v1/cohorts", headers=api.headers("test"), json={"name": name, "definition": definition}
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def _get(api: ApiHarness, path: str, status: int = 200) -> Any:
    response = api.client.get(path, headers=api.headers("test"))
    assert response.status_code == status, response.text
    return response.json()


def test_snapshots_over_http(api_any: ApiHarness) -> None:
    scope = Scope(api_any.org_id, livemode=False)
    load(api_any.warehouse, scope, CUSTOMERS, SUBS)
    _rates(api_any.warehouse, scope)
    cohort_id = _cohort(api_any, "Everyone", {})
    body = _get(
        api_any,
        f"/v1/cohorts/{cohort_id}/snapshots?interval=month&from=2025-02-01&to=2025-03-31"
        "&baseCurrency=EUR",
    )
    assert body["object"] == "list"
    feb, mar = body["data"]
    assert list(mar) == [
        "period_start",
        "period_end",
        "starting_mrr",
        "new_mrr",
        "reactivation_mrr",
        "expansion_mrr",
        "contraction_mrr",
        "churn_mrr",
        "ending_mrr",
        "fx_impact",
        "starting_arr",
        "ending_arr",
        "churn_count",
        "member_count",
        "nrr",
        "grr",
        "avg_health_score",
        "avg_risk_score",
    ]
    assert (mar["starting_mrr"], mar["ending_mrr"], mar["fx_impact"]) == (575.0, 605.0, 25.0)
    assert (mar["nrr"], mar["grr"], mar["churn_count"]) == (86.09, 77.39, 1)
    # reconciliation: ending(Feb) + fx_impact(Mar) = starting(Mar): 550 + 25 = 575
    assert feb["ending_mrr"] + mar["fx_impact"] == mar["starting_mrr"]


def test_snapshot_parameters_are_400_naming_them(api: ApiHarness) -> None:
    cohort_id = _cohort(api, "Everyone", {})
    base = f"/v1/cohorts/{cohort_id}/snapshots"
    for query, name in (
        ("?interval=week", "interval"),
        ("?from=2025-13-01", "from"),
        ("?to=yesterday", "to"),
        ("?baseCurrency=XXX", "baseCurrency"),
        ("?from=2025-05-01&to=2025-04-01", "from"),
    ):
        problem = _get(api, base + query, status=400)
        assert problem["errors"][0]["loc"] == ["query", name], query
    assert _get(api, "/v1/cohorts/cohort_nope/snapshots", status=404)["status"] == 404


def test_default_window_is_twelve_periods_ending_now(api: ApiHarness) -> None:
    cohort_id = _cohort(api, "Everyone", {})
    months = _get(api, f"/v1/cohorts/{cohort_id}/snapshots")["data"]
    quarters = _get(api, f"/v1/cohorts/{cohort_id}/snapshots?interval=quarter")["data"]
    assert len(months) == 12 and len(quarters) == 12
    today = clock.today()
    assert months[-1]["period_start"] == today.replace(day=1).isoformat()
    # no members paying: starting 0 everywhere → NRR and GRR null, not 0
    assert {m["nrr"] for m in months} == {None}


# -- comparison -------------------------------------------------------------------------
# March 2025, one customer per cohort (segment = cohort), EUR:
#   high: 100 → 150 (NRR 150)   mid1: 100 → 80 (NRR 80)   mid2: 100 → 80 (NRR 80, tie)
#   low: 100 → 0 (NRR 0)        none: new in March (starting 0 → NRR null, unranked)
# Dense ranks: high 1 (best), mid1 2, mid2 2, low 3 (worst), none unranked (normal).
COMPARED = {
    "high": [(date(2025, 1, 1), date(2025, 3, 10), 100_00), (date(2025, 3, 10), None, 150_00)],
    "mid1": [(date(2025, 1, 1), date(2025, 3, 10), 100_00), (date(2025, 3, 10), None, 80_00)],
    "mid2": [(date(2025, 1, 1), date(2025, 3, 10), 100_00), (date(2025, 3, 10), None, 80_00)],
    "low": [(date(2025, 1, 1), date(2025, 3, 10), 100_00)],
    "none": [(date(2025, 3, 2), None, 10_00)],
}


def _load_compared(api: ApiHarness, names: list[str]) -> None:
    subs = [
        Sub(f"{name}{i}", name, start, end, mrr, currency="EUR")
        for name in names
        for i, (start, end, mrr) in enumerate(COMPARED[name])
    ]
    customers = [Cust(name, datetime(2024, 12, 1), segment=name) for name in names]
    load(api.warehouse, Scope(api.org_id, livemode=False), customers, subs)
    for name in names:
        _cohort(api, name, {"segments": [name]})


def test_compare_dense_ranks_and_flags(api_any: ApiHarness) -> None:
    _load_compared(api_any, list(COMPARED))
    body = _get(api_any, "/v1/cohorts/compare?cohort_type=custom&period=2025-03&baseCurrency=EUR")
    assert body["livemode"] is False
    assert (body["period_start"], body["period_end"], body["interval"]) == (
        "2025-03-01",
        "2025-03-31",
        "month",
    )
    ranked = [(e["name"], e["nrr"], e["rank"], e["flag"]) for e in body["data"]]
    assert ranked == [
        ("high", 150.0, 1, "best"),
        ("mid1", 80.0, 2, "normal"),
        ("mid2", 80.0, 2, "normal"),
        ("low", 0.0, 3, "worst"),
        ("none", None, None, "normal"),
    ]
    # a day inside the period names it too
    same = _get(api_any, "/v1/cohorts/compare?period=2025-03-17&baseCurrency=EUR")
    assert [e["rank"] for e in same["data"]] == [1, 2, 2, 3, None]


def test_compare_single_cohort_and_ties_are_normal(api: ApiHarness) -> None:
    _load_compared(api, ["mid1"])
    (only,) = _get(api, "/v1/cohorts/compare?period=2025-03&baseCurrency=EUR")["data"]
    assert (only["rank"], only["flag"]) == (1, "normal")  # fewer than two rankable
    _load_compared(api, ["mid2"])
    both = _get(api, "/v1/cohorts/compare?period=2025-03&baseCurrency=EUR")["data"]
    assert [(e["rank"], e["flag"]) for e in both] == [(1, "normal"), (1, "normal")]  # all tie


def test_compare_errors(api: ApiHarness) -> None:
    for query, name in (
        ("?interval=year", "interval"),
        ("?period=2025-Q3", "period"),  # a quarter label with the month interval
        ("?period=2999-01", "period"),  # after the current period
        ("?cohort_type=planet", "cohort_type"),
    ):
        problem = _get(api, "/v1/cohorts/compare" + query, status=400)
        assert problem["errors"][0]["loc"] == ["query", name], query
    assert _get(api, "/v1/cohorts/compare?interval=quarter&period=2025-Q1")["data"] == []


def test_curve_over_http(api: ApiHarness) -> None:
    _load_compared(api, ["high"])
    cohort_id = _cohort(api, "high again", {"segments": ["high"]})
    # high paid 100 from 2025-01-01, 150 from 2025-03-10: month 0 (Jan) 100, month 1
    # (Feb) 100, month 2 (Mar) 150 → 150 %; gross capped at 100 → 100 %.
    body = _get(api, f"/v1/cohorts/{cohort_id}/curve?months=2&baseCurrency=EUR")
    assert (body["object"], body["months"], body["initial_mrr"]) == ("vintage_curve", 2, 100.0)
    assert body["livemode"] is False
    assert [p["mrr_retention"] for p in body["periods"]] == [100.0, 100.0, 150.0]
    assert [p["mrr_retention_gross"] for p in body["periods"]] == [100.0, 100.0, 100.0]
    assert [p["mature_customers"] for p in body["periods"]] == [1, 1, 1]
    bad = _get(api, f"/v1/cohorts/{cohort_id}/curve?months=x", status=400)
    assert bad["errors"][0]["loc"] == ["query", "months"]
