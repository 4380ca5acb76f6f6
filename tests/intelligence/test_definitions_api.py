"""SPEC §3 auto-generation: ``POST/GET /api/cohorts/definitions`` (Pillar's seed).

Population (test mode):

| id | created_at          | segment    | territory | owner_id |
|----|---------------------|------------|-----------|----------|
| c1 | 2025-07-15          | Enterprise | EMEA      | rep_1    |
| c2 | 2025-08-01          | enterprise | -         | rep_2    |
| c3 | 2025-10-02          | SMB        | "  "      | -        |
| c4 | 2025-09-30 23:59:59 | -          | -         | -        |

By hand: vintages 2025-Q3 {c1, c2, c4} and 2025-Q4 {c3} → 2; segments "Enterprise"
(c1, c2: one value, any case) and "SMB" → 2; territory EMEA only (blank = missing) → 1;
reps rep_1, rep_2 → 2. Total 7.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tests.engine.state_rows import Cust, load
from tests.fixtures.api import ApiHarness

from cohortd.keys.models import Role
from cohortd.warehouse import Scope

POPULATION = [
    Cust("c1", datetime(2025, 7, 15), segment="Enterprise", territory="EMEA", owner_id="rep_1"),
    Cust("c2", datetime(2025, 8, 1), segment="enterprise", owner_id="rep_2"),
    Cust("c3", datetime(2025, 10, 2), segment="SMB", territory="  "),
    Cust("c4", datetime(2025, 9, 30, 23, 59, 59)),
]


def _post(api: ApiHarness) -> Any:
    response = api.client.post("/api/cohorts/definitions", headers=api.headers("test"))
    assert response.status_code == 200, response.text
    return response.json()


def _definitions(api: ApiHarness, query: str = "") -> dict[str, Any]:
    response = api.client.get(f"/api/cohorts/definitions{query}", headers=api.headers("test"))
    assert response.status_code == 200, response.text
    return response.json()


def test_generate_then_upsert_is_idempotent(api_any: ApiHarness) -> None:
    load(api_any.warehouse, Scope(api_any.org_id, livemode=False), POPULATION)
    first = _post(api_any)
    assert first == {
        "success": True,
        "total_cohorts": 7,
        "inserted": 7,
        "updated": 0,
        "breakdown": {"vintage": 2, "segment": 2, "territory": 1, "rep": 2},
    }
    # the second call finds every grouping: nothing inserted, member counts refreshed
    second = _post(api_any)
    assert (second["inserted"], second["updated"], second["total_cohorts"]) == (0, 7, 7)

    listed = _definitions(api_any)
    assert listed["count"] == 7
    by_name = {d["name"]: d for d in listed["definitions"]}
    assert set(by_name) == {
        "Vintage 2025-Q3",
        "Vintage 2025-Q4",
        "Segment: Enterprise",
        "Segment: SMB",
        "Territory: EMEA",
        "Rep: rep_1",
        "Rep: rep_2",
    }
    q3 = by_name["Vintage 2025-Q3"]
    assert set(q3) == {
        "id",
        "org_id",
        "name",
        "cohort_type",
        "grouping_field",
        "grouping_value",
        "filter_criteria",
        "member_count",
    }
    assert (q3["cohort_type"], q3["grouping_field"], q3["grouping_value"]) == (
        "vintage",
        "created_at",
        "2025-Q3",
    )
    assert (q3["member_count"], q3["filter_criteria"], q3["org_id"]) == (3, None, api_any.org_id)
    assert by_name["Segment: Enterprise"]["member_count"] == 2
    assert by_name["Rep: rep_2"]["grouping_field"] == "owner_id"

    # generated cohorts are ordinary cohorts: the membership engine agrees on the counts
    for name, expected in (("Vintage 2025-Q3", 3), ("Segment: Enterprise", 2)):
        cohort = api_any.client.get(
            f"/v1/cohorts/{by_name[name]['id']}", headers=api_any.headers("test")
        )
        assert cohort.status_code == 200, cohort.text
        assert cohort.json()["member_count"] == expected
        assert cohort.json()["cohort_type"] == by_name[name]["cohort_type"]


def test_emptied_group_is_kept_with_count_zero(api: ApiHarness) -> None:
    load(api.warehouse, Scope(api.org_id, livemode=False), POPULATION)
    _post(api)
    api.warehouse.con.con.execute(
        "DELETE FROM customers WHERE org_id = ? AND id = 'c3'", [api.org_id]
    )
    # c3 gone: 2025-Q4, SMB have no members; they stay (updated, count 0)
    again = _post(api)
    assert (again["inserted"], again["updated"]) == (0, 7)
    assert again["breakdown"] == {"vintage": 2, "segment": 2, "territory": 1, "rep": 2}
    by_name = {d["name"]: d for d in _definitions(api)["definitions"]}
    assert by_name["Vintage 2025-Q4"]["member_count"] == 0
    assert by_name["Segment: SMB"]["member_count"] == 0


def test_filter_by_type_and_custom_filter_criteria(api: ApiHarness) -> None:
    load(api.warehouse, Scope(api.org_id, livemode=False), POPULATION)
    _post(api)
    created = api.client.post(
        "/v1/cohorts",
        headers=api.headers("test"),
        json={"name": "EMEA or SMB", "definition": {"segments": ["SMB"]}},
    )
    assert created.status_code == 201, created.text
    custom = _definitions(api, "?cohort_type=custom")
    assert custom["count"] == 1
    (only,) = custom["definitions"]
    assert only["filter_criteria"] == {"segments": ["SMB"]}
    assert (only["member_count"], only["grouping_field"], only["grouping_value"]) == (1, None, None)
    assert _definitions(api, "?cohort_type=rep")["count"] == 2


def test_modes_and_errors(api: ApiHarness) -> None:
    load(api.warehouse, Scope(api.org_id, livemode=False), POPULATION)
    _post(api)
    # live mode sees none of the test-mode cohorts
    live = api.client.get("/api/cohorts/definitions", headers=api.headers("live"))
    assert live.json() == {"definitions": [], "count": 0}
    bad = api.client.get("/api/cohorts/definitions?cohort_type=planet", headers=api.headers("test"))
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["loc"] == ["query", "cohort_type"]
    assert api.client.post("/api/cohorts/definitions").status_code == 401
    viewer = api.new_key(Role.viewer)
    denied = api.client.post("/api/cohorts/definitions", headers=api.headers(key=viewer))
    assert denied.status_code == 403
