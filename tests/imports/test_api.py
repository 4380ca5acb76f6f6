"""The API path: POST /v1/imports (multipart job), GET one, list; exchange rates."""

from __future__ import annotations

import gzip

from cohortd.keys.models import Role
from tests.fixtures.api import ApiHarness
from tests.imports.helpers import GOOD_CUSTOMERS, GOOD_SUBSCRIPTIONS, stored


def _post(api: ApiHarness, files: dict[str, tuple[str, bytes]], **data: str):
    return api.client.post(
        "/v1/imports",
        headers=api.headers("test"),
        files={k: (name, content) for k, (name, content) in files.items()},
        data=data,
    )


def test_import_job_runs_and_is_listed(api_any: ApiHarness) -> None:
    api = api_any
    created = _post(
        api,
        {
            "customers": ("customers.csv.gz", gzip.compress(GOOD_CUSTOMERS.encode())),
            "subscriptions": ("subs.csv", GOOD_SUBSCRIPTIONS.encode()),
        },
    )
    assert created.status_code == 202, created.text
    job = created.json()
    assert job["id"].startswith("imp_") and job["object"] == "import"
    assert job["livemode"] is False and job["status"] == "pending"
    # The job runs as a background task; the test client returns once it finished.
    done = api.client.get(f"/v1/imports/{job['id']}", headers=api.headers("test")).json()
    assert done["status"] == "succeeded", done
    assert done["counts"] == {
        "customers": {"inserted": 2, "updated": 0, "unchanged": 0, "skipped": 0},
        "subscriptions": {"inserted": 2, "updated": 0, "unchanged": 0, "skipped": 0},
    }
    assert done["errors"] == [] and done["completed_at"] is not None
    assert done["files"] == {"customers": "customers.csv.gz", "subscriptions": "subs.csv"}
    from cohortd.warehouse import Scope

    rows = stored(api.warehouse, Scope(api.org_id, False), "customers")
    assert [r["id"] for r in rows] == ["c1", "c2"]
    assert stored(api.warehouse, Scope(api.org_id, True), "customers") == []  # live untouched
    listed = api.client.get("/v1/imports", headers=api.headers("test")).json()
    assert [j["id"] for j in listed["data"]] == [job["id"]]
    assert listed["object"] == "list" and listed["has_more"] is False
    # Another mode does not see the job.
    other = api.client.get(f"/v1/imports/{job['id']}", headers=api.headers("live"))
    assert other.status_code == 404


def test_failed_job_lists_problems_and_writes_nothing(api_any: ApiHarness) -> None:
    api = api_any
    body = "id,email,created_at\nc1,ann@example.com,2024-01-01\nc1,bob@example.com,never\n"
    job = _post(api, {"customers": ("c.csv", body.encode())}).json()
    done = api.client.get(f"/v1/imports/{job['id']}", headers=api.headers("test")).json()
    assert done["status"] == "failed"
    assert done["errors"] == [
        {
            "file": "c.csv",
            "kind": "customers",
            "row": 3,
            "column": "created_at",
            "value": "never",
            "reason": "not an ISO 8601 date or timestamp",
        }
    ]
    assert "example.com" not in str(done)
    from cohortd.warehouse import Scope

    assert stored(api.warehouse, Scope(api.org_id, False), "customers") == []


def test_on_error_skip_through_the_api(api: ApiHarness) -> None:
    body = "id,created_at\nc1,2024-01-01\nc2,never\n"
    job = _post(api, {"customers": ("c.csv", body.encode())}, on_error="skip").json()
    done = api.client.get(f"/v1/imports/{job['id']}", headers=api.headers("test")).json()
    assert (done["status"], done["on_error"], done["error_count"]) == ("succeeded", "skip", 1)
    assert done["counts"]["customers"] == {
        "inserted": 1,
        "updated": 0,
        "unchanged": 0,
        "skipped": 1,
    }


def test_bad_requests(api: ApiHarness) -> None:
    none = api.client.post("/v1/imports", headers=api.headers("test"), data={"on_error": "skip"})
    assert none.status_code == 422
    assert none.headers["content-type"].startswith("application/problem+json")
    assert none.json()["errors"] == [
        {"loc": ["body", "customers"], "msg": "give customers, subscriptions or exchange_rates"}
    ]
    bad = _post(api, {"customers": ("c.csv", GOOD_CUSTOMERS.encode())}, on_error="maybe")
    assert bad.status_code == 422
    viewer = api.new_key(Role.viewer)
    denied = api.client.post(
        "/v1/imports",
        headers=api.headers(key=viewer),
        files={"customers": ("c.csv", GOOD_CUSTOMERS.encode())},
    )
    assert denied.status_code == 403


def test_exchange_rates_api(api_any: ApiHarness) -> None:
    api = api_any
    rates = [
        {"date": "2024-01-01", "currency": "usd", "rate": "1.1"},
        {"date": "2024-01-02", "currency": "JPY", "rate": 160.25},
    ]
    written = api.client.post("/v1/exchange_rates", headers=api.headers("test"), json=rates)
    assert written.status_code == 201, written.text
    assert written.json()["counts"] == {"inserted": 2, "updated": 0, "unchanged": 0, "skipped": 0}
    again = api.client.post("/v1/exchange_rates", headers=api.headers("test"), json=rates)
    assert again.json()["counts"]["unchanged"] == 2
    page = api.client.get("/v1/exchange_rates?limit=1", headers=api.headers("test")).json()
    assert page["data"] == [
        {
            "id": "2024-01-01:USD",
            "object": "exchange_rate",
            "livemode": False,
            "date": "2024-01-01",
            "currency": "USD",
            "rate": "1.1",
        }
    ]
    assert page["has_more"] is True and page["next_cursor"] == "2024-01-01:USD"
    rest = api.client.get(
        "/v1/exchange_rates?starting_after=2024-01-01:USD", headers=api.headers("test")
    ).json()
    assert [(r["currency"], r["rate"]) for r in rest["data"]] == [("JPY", "160.25")]
    live = api.client.get("/v1/exchange_rates", headers=api.headers("live")).json()
    assert live["data"] == []


def test_bad_exchange_rates_name_the_item(api: ApiHarness) -> None:
    rates = [
        {"date": "2024-01-01", "currency": "USD", "rate": "1.1"},
        {"date": "2024-01-01", "currency": "XXY", "rate": "-2"},
    ]
    answer = api.client.post("/v1/exchange_rates", headers=api.headers("test"), json=rates)
    assert answer.status_code == 422
    assert answer.json()["errors"] == [
        {"loc": ["body", 1, "currency"], "msg": "not an ISO 4217 currency code"},
        {"loc": ["body", 1, "rate"], "msg": "not a positive decimal number"},
    ]
    listed = api.client.get("/v1/exchange_rates", headers=api.headers("test")).json()
    assert listed["data"] == []


def test_a_crashing_job_fails_cleanly_and_logs_no_cell(
    api: ApiHarness, monkeypatch, caplog
) -> None:
    from cohortd.imports import service

    def crash(*args, **kwargs):
        raise RuntimeError("Conversion failed for value 'ann@example.com'")

    monkeypatch.setattr(service, "run_import", crash)
    job = _post(api, {"customers": ("c.csv", GOOD_CUSTOMERS.encode())}).json()
    done = api.client.get(f"/v1/imports/{job['id']}", headers=api.headers("test")).json()
    assert done["status"] == "failed"
    assert done["errors"][0]["reason"] == (
        "the import stopped on an internal error; nothing was written"
    )
    assert "example.com" not in caplog.text and "RuntimeError" in caplog.text
