"""Each finding of the fuzz suite (and of the issue that asked for it), replayed as the
exact request against the real seeded server: a 4xx problem naming the input, never a
5xx, never a hang."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.reliability.conftest import Seeded

PROBLEM = "application/problem+json"


def _problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, (response.request.url, response.text)
    assert response.headers["content-type"].split(";")[0] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["type"] and body["title"] and body["detail"]
    return body


def _names(body: dict[str, Any]) -> list[list[Any]]:
    return [error["loc"] for error in body.get("errors", [])]


@pytest.fixture(scope="module")
def api(seeded: Seeded) -> Any:
    with seeded.client() as client:
        yield client


# -- NUL, invalid UTF-8 and lone surrogates: 400/422 naming where, never a 500 -------------
@pytest.mark.parametrize(
    ("url", "where"),
    [
        # the finding: a cursor ending in NUL reached DuckDB, 500
        (
            "/v1/subscribers?limit=54&starting_after=%C2%B7H%C3%84f%C3%AE%C3%BF%00",
            ["query", "starting_after"],
        ),
        ("/v1/exchange_rates?starting_after=%00", ["query", "starting_after"]),  # 500 too
        ("/v1/subscribers/%00", ["path"]),  # 500: the id reached DuckDB
        ("/v1/subscribers/abc%00def", ["path"]),
        ("/v1/cohorts?starting_after=%C0%AE", ["query", "starting_after"]),  # overlong "."
        ("/v1/motions?cohort_id=%ED%A0%80", ["query", "cohort_id"]),  # an encoded surrogate
        ("/v1/imports?limit=10&%FF=1", ["query", "\ufffd"]),  # a name that is not UTF-8
        ("/v1/reports/cohort?region=%E2%82", ["query", "region"]),  # truncated UTF-8
    ],
)
def test_bad_text_in_paths_and_queries(api: httpx.Client, url: str, where: list[str]) -> None:
    body = _problem(api.get(url), 400)
    assert _names(body) == [where]


@pytest.mark.parametrize(
    ("method", "url", "body", "where"),
    [
        ("post", "/v1/cohorts", {"name": "a\u0000b", "definition": {}}, ["body", "name"]),
        (
            "post",
            "/v1/cohorts",
            {"name": "ok", "definition": {"plan_ids": ["x\u0000"]}},
            ["body", "definition"],  # the outer field holding it
        ),
        ("post", "/v1/api_keys", {"role": "viewer", "name": "\ud800"}, ["body", "name"]),
        (
            "post",
            "/v1/exchange_rates",
            [{"date": "2024-01-01", "currency": "US\u0000", "rate": "1"}],
            ["body", 0, "currency"],
        ),
    ],
)
def test_bad_text_in_json_bodies(
    api: httpx.Client, method: str, url: str, body: Any, where: list[Any]
) -> None:
    import json

    raw = json.dumps(body)  # \u0000 and \ud800 escapes, as a client would send them
    response = api.request(
        method.upper(), url, content=raw, headers={"Content-Type": "application/json"}
    )
    problem = _problem(response, 422)
    assert where in _names(problem)


# -- dates and lists are bounded: a 4xx naming the parameter, answered at once -------------
@pytest.mark.parametrize(
    ("url", "status", "where"),
    [
        # the hang: membership evaluated in the year 4672
        ("/v1/cohorts?cohort_type=rep&as_of=4672-01-20", 422, ["query", "as_of"]),
        ("/v1/cohorts?as_of=1899-12-31", 422, ["query", "as_of"]),
        ("/v1/reports/cohort?date=4672-01-20", 400, ["query", "date"]),
        ("/v1/reports/cohort?date=0001-01-01", 400, ["query", "date"]),
        ("/v1/cohorts/compare?period=0000-01", 400, ["query", "period"]),  # date(0, 1, 1): 500
        ("/v1/cohorts/compare?period=4672-01-20", 400, ["query", "period"]),
        ("/v1/subscribers?limit=1000000000", 422, ["query", "limit"]),
        ("/v1/reports/cohort?region=" + "+".join(["DE"] * 1001), 400, ["query", "region"]),
    ],
)
def test_out_of_range_inputs(api: httpx.Client, url: str, status: int, where: list[str]) -> None:
    body = _problem(api.get(url), status)
    assert where in _names(body)


def test_snapshot_window_dates_are_bounded(api: httpx.Client, seeded: Seeded) -> None:
    url = f"/v1/cohorts/{seeded.ids['cohort_id']}/snapshots?from=0001-01-01"
    assert _names(_problem(api.get(url), 400)) == [["query", "from"]]
    url = f"/v1/cohorts/{seeded.ids['cohort_id']}/snapshots?to=9999-12-31"
    assert _names(_problem(api.get(url), 400)) == [["query", "to"]]


def test_the_bounds_leave_real_days_alone(api: httpx.Client) -> None:
    assert api.get("/v1/cohorts?as_of=1900-01-01").status_code == 200
    assert api.get("/v1/cohorts?as_of=2200-12-31").status_code == 200


# -- what the OpenAPI document promises is what the server answers -------------------------
def test_validation_errors_are_documented_as_problems(api: httpx.Client) -> None:
    # Found by content_type_conformance: FastAPI documented its 422 as application/json.
    spec = api.get("/openapi.json").json()
    answer = spec["paths"]["/v1/api_keys"]["post"]["responses"]["422"]
    assert list(answer["content"]) == [PROBLEM]
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    _problem(api.post("/v1/api_keys", json={"role": "__not_in_enum__"}), 422)


def test_cohort_creation_dates_are_rfc3339(api: httpx.Client) -> None:
    # Found by response_schema_conformance: "2021-04-01T00:00:00" is no date-time.
    created = api.post(
        "/v1/cohorts",
        json={"name": "Q1", "definition": {"created_from": "2021-01-01T02:00:00+02:00"}},
    )
    assert created.status_code == 201, created.text
    assert created.json()["definition"]["created_from"] == "2021-01-01T00:00:00Z"


# -- the import readers' findings (test_import_mutations.py) -------------------------------
@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_column_name_that_is_not_utf8_is_a_file_problem(
    warehouse: Any, tmp_path: Any, fmt: str
) -> None:
    # Found by the mutation test: a flipped byte in a header crashed the import with a
    # UnicodeDecodeError (pyarrow decodes the names lazily).
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    from cohortd.warehouse import Scope
    from tests.imports.helpers import run

    if fmt == "csv":
        content = b"id,creat\xa4d_at\nc1,2024-01-01\n"
    else:
        sink = io.BytesIO()
        pq.write_table(pa.table({"id": ["c1"], "created_at": ["2024-01-01"]}), sink)
        content = sink.getvalue().replace(b"created_at", b"creat\x80d_at")
    scope = Scope(f"org_names_{warehouse.name}_{fmt}", False)
    outcome = run(warehouse, scope, tmp_path, customers=(f"customers.{fmt}", content))
    assert not outcome.succeeded
    reasons = [p.reason for p in outcome.problems]
    assert reasons in (
        ["the file is not valid UTF-8 text"],
        ["the file is not a readable Parquet file"],
    ), reasons


def test_a_row_of_the_wrong_shape_with_invalid_bytes_is_a_file_problem(
    warehouse: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Found by the mutation test: a row with too few fields holding invalid UTF-8 reached
    # pyarrow's invalid-row callback, which cannot decode its text; the error was
    # "unraisable" (printed, swallowed) and the file only "cannot be parsed as CSV".
    import sys

    from cohortd.warehouse import Scope
    from tests.imports.helpers import run

    unraisable: list[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    content = b"id,created_at\nc1,2024-01-01\nc\xc4\xc4\nc3,2024-01-03\n"
    scope = Scope(f"org_shape_bytes_{warehouse.name}", False)
    outcome = run(warehouse, scope, tmp_path, customers=("customers.csv", content))
    assert not outcome.succeeded
    assert [p.reason for p in outcome.problems] == ["the file is not valid UTF-8 text"]
    assert unraisable == []


# -- an empty key: it read as absent and reached the warehouse's NOT NULL, 500 ------------
@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/subscribers", {"id": ""}, "id"),
        (
            "/v1/subscriptions",
            {
                "id": "",
                "customer_id": "c1",
                "mrr": "1.00",
                "currency": "USD",
                "start_date": "2025-01-01",
            },
            "id",
        ),
    ],
)
def test_an_empty_key_is_422_naming_it(
    api: httpx.Client, path: str, body: dict[str, str], field: str
) -> None:
    found = _problem(api.post(path, json=body), 422)
    assert ["body", field] in _names(found)
