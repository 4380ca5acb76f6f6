"""The app starts, authenticates, and speaks problem+json."""

from __future__ import annotations

from tests.fixtures.api import ApiHarness


def test_healthz_and_readyz(api_any: ApiHarness) -> None:
    assert api_any.client.get("/healthz").json() == {"status": "ok"}
    ready = api_any.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"control_plane": "ok", "data_plane": "ok"}


def test_missing_key_is_401_problem(api_any: ApiHarness) -> None:
    response = api_any.client.get("/v1/api_keys")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 401 and body["request_id"].startswith("req_")


def test_admin_lists_its_keys(api_any: ApiHarness) -> None:
    response = api_any.client.get("/v1/api_keys", headers=api_any.headers("test"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "list" and len(body["data"]) == 1
    assert body["data"][0]["livemode"] is False
    assert api_any.keys["test"] not in response.text
