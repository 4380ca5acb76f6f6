"""``/v1/cohorts`` over real HTTP: create, validate, tenancy, patch, delete, members (SPEC §3)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from tests.engine.state_rows import Cust, Sub, load
from tests.fixtures.api import ApiHarness

from cohortd import clock
from cohortd.warehouse import Scope

TODAY = clock.today()


def _create(api: ApiHarness, body: dict[str, Any], mode: str = "test") -> Any:
    return api.client.post("/v1/cohorts", json=body, headers=api.headers(mode))


def _given(definition: dict[str, Any]) -> dict[str, Any]:
    """The definition's set fields (the API answers every field, null when absent)."""
    return {key: value for key, value in definition.items() if value is not None}


def _error_locs(response: Any) -> list[list[Any]]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return [error["loc"] for error in response.json()["errors"]]


@pytest.fixture
def people(api_any: ApiHarness) -> ApiHarness:
    """Three test-mode customers as of today (T):
    p1 pays since T-40 on pro (tenure 40), tag vip; p2 pays since T-5 on basic, tag vip;
    p3 trialing since T-3, no tags."""
    scope = Scope(api_any.org_id, livemode=False)
    load(
        api_any.warehouse,
        scope,
        [
            Cust("p1", datetime(2024, 1, 1), country="US", tags=("vip",), email="p1@example.com"),
            Cust("p2", datetime(2024, 2, 1), country="DE", tags=("vip",)),
            Cust("p3", datetime(2024, 3, 1), country="US"),
        ],
        [
            Sub("s1", "p1", TODAY - timedelta(days=40), None, 5000, plan_id="pro"),
            Sub("s2", "p2", TODAY - timedelta(days=5), None, 1000, plan_id="basic"),
            Sub("s3", "p3", TODAY - timedelta(days=3), None, 0, status="trialing"),
        ],
    )
    return api_any


def test_create_answers_the_seed_fields(people: ApiHarness) -> None:
    response = _create(people, {"name": "VIPs", "definition": {"tags_include": ["vip"]}})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["id"].startswith("cohort_") and len(body["id"]) == len("cohort_") + 26
    assert body["object"] == "cohort" and body["livemode"] is False
    assert body["cohort_type"] == "custom"
    assert body["grouping_field"] is None and body["grouping_value"] is None
    assert body["description"] is None
    assert _given(body["definition"]) == {"tags_include": ["vip"]}
    assert body["definition"]["status"] is None
    # p1 and p2 hold vip.
    assert body["member_count"] == 2
    assert body["used_by_motions"] == []
    assert body["as_of"] == TODAY.isoformat()
    assert body["created_at"] and body["updated_at"]


def test_member_count_as_of_a_past_day(people: ApiHarness) -> None:
    created = _create(people, {"name": "Tenured", "definition": {"tenure_days_min": 30}}).json()
    # Today p1 has tenure 40; 20 days ago it had 20 and p2 had not paid.
    assert created["member_count"] == 1
    past = (TODAY - timedelta(days=20)).isoformat()
    response = people.client.get(
        f"/v1/cohorts/{created['id']}", params={"as_of": past}, headers=people.headers()
    )
    assert response.status_code == 200
    assert (response.json()["member_count"], response.json()["as_of"]) == (0, past)
    members = f"/v1/cohorts/{created['id']}/members"
    assert (
        people.client.get(members, params={"as_of": past}, headers=people.headers()).json()["data"]
        == []
    )
    today = people.client.get(members, headers=people.headers()).json()["data"]
    assert [s["id"] for s in today] == ["p1"]
    bad = people.client.get(members, params={"as_of": "2025-13-01"}, headers=people.headers())
    assert ["query", "as_of"] in _error_locs(bad)


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"name": "", "definition": {}}, ["body", "name"]),
        ({"name": "x" * 201, "definition": {}}, ["body", "name"]),
        ({"definition": {}}, ["body", "name"]),
        ({"name": "n"}, ["body", "definition"]),
        (
            {"name": "n", "definition": {"tenure_days_min": 30, "tenure_days_max": 29}},
            ["body", "definition", "tenure_days_max"],
        ),
        (
            {"name": "n", "definition": {"engagement_score_min": 1.5}},
            ["body", "definition", "engagement_score_min"],
        ),
        (
            {"name": "n", "definition": {"engagement_score_min": -0.1}},
            ["body", "definition", "engagement_score_min"],
        ),
        ({"name": "n", "definition": {"status": ["gone"]}}, ["body", "definition", "status", 0]),
        (
            {"name": "n", "definition": {"plan_ids": [f"p{i}" for i in range(1001)]}},
            ["body", "definition", "plan_ids"],
        ),
        (
            {"name": "n", "definition": {"tenure_days_min": -1}},
            ["body", "definition", "tenure_days_min"],
        ),
        ({"name": "n", "definition": {"colour": ["red"]}}, ["body", "definition", "colour"]),
        ({"name": "n", "definition": {}, "owner": "me"}, ["body", "owner"]),
        (
            {
                "name": "n",
                "definition": {"created_from": "2025-01-01", "created_before": "2025-01-01"},
            },
            ["body", "definition", "created_before"],
        ),
    ],
    ids=[
        "name 0 chars",
        "name 201 chars",
        "name missing",
        "definition missing",
        "min > max",
        "score 1.5",
        "score negative",
        "unknown status",
        "1001 plan ids",
        "negative tenure",
        "unknown definition field",
        "unknown top field",
        "empty created window",
    ],
)
def test_validation_names_the_field(api: ApiHarness, body: dict[str, Any], loc: list[Any]) -> None:
    assert loc in _error_locs(_create(api, body))


def test_limits_themselves_are_accepted(api: ApiHarness) -> None:
    body = {
        "name": "x" * 200,
        "definition": {
            "plan_ids": [f"p{i}" for i in range(1000)],
            "tenure_days_min": 30,
            "tenure_days_max": 30,
            "engagement_score_min": 1.0,
        },
    }
    response = _create(api, body)
    assert response.status_code == 201, response.text
    assert response.json()["member_count"] == 0


def test_other_org_and_mode_get_404(people: ApiHarness, sqlite_app: Any) -> None:
    created = _create(people, {"name": "VIPs", "definition": {}}).json()
    path = f"/v1/cohorts/{created['id']}"
    live = people.headers("live")
    for method, url in [
        ("GET", path),
        ("PATCH", path),
        ("DELETE", path),
        ("GET", path + "/members"),
    ]:
        kwargs = {"json": {"name": "x"}} if method == "PATCH" else {}
        response = people.client.request(method, url, headers=live, **kwargs)
        assert response.status_code == 404, (method, url, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    listed = people.client.get("/v1/cohorts", headers=live).json()
    assert listed["data"] == []
    # Still there for its own mode.
    assert people.client.get(path, headers=people.headers()).status_code == 200


def test_other_org_gets_404(api: ApiHarness, sqlite_app: Any) -> None:
    from tests.fixtures.api import new_org

    created = _create(api, {"name": "Mine", "definition": {}}).json()
    stranger = new_org(sqlite_app[0])
    response = api.client.get(f"/v1/cohorts/{created['id']}", headers=stranger.headers("test"))
    assert response.status_code == 404


def test_patch_replaces_the_definition_whole(people: ApiHarness) -> None:
    created = _create(
        people,
        {
            "name": "A",
            "description": "d",
            "definition": {"tags_include": ["vip"], "countries": ["US"]},
        },
    ).json()
    # vip ∩ US = {p1}.
    assert created["member_count"] == 1
    path = f"/v1/cohorts/{created['id']}"
    renamed = people.client.patch(path, json={"name": "B"}, headers=people.headers()).json()
    assert (renamed["name"], renamed["description"]) == ("B", "d")
    assert renamed["definition"] == created["definition"]
    replaced = people.client.patch(
        path, json={"definition": {"status": ["trialing"]}}, headers=people.headers()
    ).json()
    # The old tags/countries are gone, not merged: only p3 (trialing) matches.
    assert _given(replaced["definition"]) == {"status": ["trialing"]}
    assert replaced["member_count"] == 1
    assert replaced["updated_at"] >= created["updated_at"]
    cleared = people.client.patch(path, json={"description": None}, headers=people.headers()).json()
    assert cleared["description"] is None and cleared["name"] == "B"
    bad = people.client.patch(path, json={"name": None}, headers=people.headers())
    assert ["body", "name"] in _error_locs(bad)
    bad = people.client.patch(
        path,
        json={"definition": {"tenure_days_min": 5, "tenure_days_max": 1}},
        headers=people.headers(),
    )
    assert ["body", "definition", "tenure_days_max"] in _error_locs(bad)


def test_delete_is_409_while_an_active_motion_uses_it(api_any: ApiHarness) -> None:
    headers = api_any.headers()
    cohort = _create(api_any, {"name": "Targets", "definition": {}}).json()
    motion = api_any.client.post(
        "/v1/motions",
        json={"type": "winback", "cohort_id": cohort["id"], "status": "active"},
        headers=headers,
    ).json()
    path = f"/v1/cohorts/{cohort['id']}"
    assert api_any.client.get(path, headers=headers).json()["used_by_motions"] == [motion["id"]]
    refused = api_any.client.delete(path, headers=headers)
    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["used_by_motions"] == [motion["id"]]
    paused = api_any.client.patch(
        f"/v1/motions/{motion['id']}", json={"status": "paused"}, headers=headers
    )
    assert paused.status_code == 200
    assert api_any.client.get(path, headers=headers).json()["used_by_motions"] == []
    deleted = api_any.client.delete(path, headers=headers)
    assert deleted.status_code == 200, deleted.text
    assert deleted.json() == {
        "id": cohort["id"],
        "object": "cohort",
        "livemode": False,
        "deleted": True,
    }
    assert api_any.client.get(path, headers=headers).status_code == 404
    # The paused motion survives without a cohort and cannot be reactivated.
    kept = api_any.client.get(f"/v1/motions/{motion['id']}", headers=headers).json()
    assert kept["cohort_id"] is None
    again = api_any.client.patch(
        f"/v1/motions/{motion['id']}", json={"status": "active"}, headers=headers
    )
    assert again.status_code == 409


def test_list_pages_and_filters_by_type(api: ApiHarness) -> None:
    ids = [_create(api, {"name": f"c{i}", "definition": {}}).json()["id"] for i in range(3)]
    first = api.client.get("/v1/cohorts", params={"limit": 2}, headers=api.headers()).json()
    assert [c["id"] for c in first["data"]] == ids[:2]
    assert first["has_more"] is True and first["next_cursor"] == ids[1]
    rest = api.client.get(
        "/v1/cohorts",
        params={"limit": 2, "starting_after": first["next_cursor"]},
        headers=api.headers(),
    ).json()
    assert [c["id"] for c in rest["data"]] == ids[2:] and rest["has_more"] is False
    custom = api.client.get("/v1/cohorts", params={"cohort_type": "custom"}, headers=api.headers())
    assert len(custom.json()["data"]) == 3
    vintage = api.client.get(
        "/v1/cohorts", params={"cohort_type": "vintage"}, headers=api.headers()
    )
    assert vintage.json()["data"] == []
    bad = api.client.get("/v1/cohorts", params={"cohort_type": "bogus"}, headers=api.headers())
    assert bad.status_code in (400, 422) and "cohort_type" in bad.text


def test_members_are_subscribers(people: ApiHarness) -> None:
    created = _create(people, {"name": "US", "definition": {"countries": ["us"]}}).json()
    path = f"/v1/cohorts/{created['id']}/members"
    page = people.client.get(path, params={"limit": 1}, headers=people.headers()).json()
    assert page["object"] == "list" and page["has_more"] is True
    assert [s["id"] for s in page["data"]] == ["p1"]
    p1 = page["data"][0]
    # p1: 5000 cents of USD today; paid 40 days ago.
    assert (p1["object"], p1["status"], p1["plan_id"], p1["mrr"], p1["currency"]) == (
        "subscriber",
        "active",
        "pro",
        "50.00",
        "USD",
    )
    assert p1["tenure_days"] == 40
    rest = people.client.get(
        path, params={"starting_after": page["next_cursor"]}, headers=people.headers()
    ).json()
    assert [s["id"] for s in rest["data"]] == ["p3"] and rest["has_more"] is False


def test_viewer_may_read_but_not_write(api: ApiHarness) -> None:
    from cohortd.keys.models import Role

    viewer = api.new_key(Role.viewer)
    response = api.client.post(
        "/v1/cohorts", json={"name": "n", "definition": {}}, headers=api.headers(key=viewer)
    )
    assert response.status_code == 403
    assert api.client.get("/v1/cohorts", headers=api.headers(key=viewer)).status_code == 200


def test_idempotent_create_makes_one_cohort(api: ApiHarness) -> None:
    headers = api.headers(**{"Idempotency-Key": "create-vips-1"})
    body = {"name": "VIPs", "definition": {"tags_include": ["vip"]}}
    first = api.client.post("/v1/cohorts", json=body, headers=headers)
    again = api.client.post("/v1/cohorts", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json()["id"] == first.json()["id"]
    assert len(api.client.get("/v1/cohorts", headers=api.headers()).json()["data"]) == 1
