"""``/v1/motions``: types, statuses, the cohort reference, tenancy."""

from __future__ import annotations

from typing import Any

import pytest
from tests.fixtures.api import ApiHarness, new_org


def _cohort(api: ApiHarness, mode: str = "test") -> str:
    response = api.client.post(
        "/v1/cohorts", json={"name": "Targets", "definition": {}}, headers=api.headers(mode)
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _motion(api: ApiHarness, body: dict[str, Any], mode: str = "test") -> Any:
    return api.client.post("/v1/motions", json=body, headers=api.headers(mode))


@pytest.mark.parametrize(
    "motion_type",
    ["migration", "annual_nudge", "cancel_save", "winback", "re_engagement", "referral"],
)
def test_every_type_creates_a_draft(api: ApiHarness, motion_type: str) -> None:
    cohort_id = _cohort(api)
    response = _motion(api, {"type": motion_type, "cohort_id": cohort_id, "name": "Q3 push"})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["id"].startswith("motion_") and body["object"] == "motion"
    assert (body["type"], body["status"], body["cohort_id"], body["livemode"]) == (
        motion_type,
        "draft",
        cohort_id,
        False,
    )


def test_only_active_motions_count_as_used(api_any: ApiHarness) -> None:
    cohort_id = _cohort(api_any)
    draft = _motion(api_any, {"type": "winback", "cohort_id": cohort_id}).json()
    active = _motion(
        api_any, {"type": "referral", "cohort_id": cohort_id, "status": "active"}
    ).json()
    cohort = api_any.client.get(f"/v1/cohorts/{cohort_id}", headers=api_any.headers()).json()
    assert cohort["used_by_motions"] == [active["id"]]
    api_any.client.patch(
        f"/v1/motions/{draft['id']}", json={"status": "active"}, headers=api_any.headers()
    )
    cohort = api_any.client.get(f"/v1/cohorts/{cohort_id}", headers=api_any.headers()).json()
    assert cohort["used_by_motions"] == sorted([active["id"], draft["id"]])
    done = api_any.client.patch(
        f"/v1/motions/{active['id']}", json={"status": "completed"}, headers=api_any.headers()
    )
    assert done.json()["status"] == "completed"
    cohort = api_any.client.get(f"/v1/cohorts/{cohort_id}", headers=api_any.headers()).json()
    assert cohort["used_by_motions"] == [draft["id"]]
    # completed is final.
    reopen = api_any.client.patch(
        f"/v1/motions/{active['id']}", json={"status": "active"}, headers=api_any.headers()
    )
    assert reopen.status_code == 409


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"type": "spam", "cohort_id": "x"}, ["body", "type"]),
        ({"cohort_id": "x"}, ["body", "type"]),
        ({"type": "winback"}, ["body", "cohort_id"]),
        ({"type": "winback", "cohort_id": "x", "status": "running"}, ["body", "status"]),
        ({"type": "winback", "cohort_id": "x", "audience": 1}, ["body", "audience"]),
    ],
)
def test_validation(api: ApiHarness, body: dict[str, Any], loc: list[str]) -> None:
    response = _motion(api, body)
    assert response.status_code == 422
    assert loc in [e["loc"] for e in response.json()["errors"]]


def test_cohort_must_exist_in_the_same_org_and_mode(api: ApiHarness, sqlite_app: Any) -> None:
    live_cohort = _cohort(api, mode="live")
    unknown = _motion(api, {"type": "winback", "cohort_id": "cohort_nope"})
    other_mode = _motion(api, {"type": "winback", "cohort_id": live_cohort})
    stranger = new_org(sqlite_app[0])
    stranger.client = api.client
    other_org = _motion(stranger, {"type": "winback", "cohort_id": live_cohort}, mode="live")
    for response in (unknown, other_mode, other_org):
        assert response.status_code == 422
        assert response.json()["errors"][0]["loc"] == ["body", "cohort_id"]
    assert (
        _motion(api, {"type": "winback", "cohort_id": live_cohort}, mode="live").status_code == 201
    )


def test_list_get_and_tenancy(api: ApiHarness) -> None:
    cohort_id = _cohort(api)
    first = _motion(api, {"type": "winback", "cohort_id": cohort_id}).json()
    second = _motion(api, {"type": "referral", "cohort_id": cohort_id, "status": "paused"}).json()
    listed = api.client.get("/v1/motions", headers=api.headers()).json()
    assert [m["id"] for m in listed["data"]] == [first["id"], second["id"]]
    paused = api.client.get(
        "/v1/motions", params={"status": "paused"}, headers=api.headers()
    ).json()
    assert [m["id"] for m in paused["data"]] == [second["id"]]
    by_cohort = api.client.get(
        "/v1/motions", params={"cohort_id": cohort_id}, headers=api.headers()
    )
    assert len(by_cohort.json()["data"]) == 2
    assert api.client.get(f"/v1/motions/{first['id']}", headers=api.headers()).json() == first
    assert (
        api.client.get(f"/v1/motions/{first['id']}", headers=api.headers("live")).status_code == 404
    )
    patch = api.client.patch(
        f"/v1/motions/{first['id']}", json={"status": None}, headers=api.headers()
    )
    assert patch.status_code == 422
