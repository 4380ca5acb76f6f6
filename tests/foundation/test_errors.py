"""Every 4xx/5xx is RFC 9457 problem+json with a request_id; no trace, SQL or secret."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient

from cohortd.app import create_app
from tests.fixtures.api import ApiHarness, make_settings, new_org

boom = APIRouter()


@boom.get("/v1/_test/boom")
def explode() -> None:
    raise RuntimeError("SELECT secret FROM users WHERE email='someone@example.com'")


@pytest.fixture(scope="module")
def small_cap_client(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[TestClient, ApiHarness]]:
    app = create_app(
        make_settings(Path(tmp_path_factory.mktemp("cap")), max_body_bytes=1024),
        configure_logs=False,
    )
    app.include_router(boom)
    with TestClient(app, raise_server_exceptions=False) as client:
        harness = new_org(app)
        harness.client = client
        yield client, harness


def _is_problem(response, status: int) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert {"type", "title", "status", "detail", "request_id"} <= body.keys()
    assert body["status"] == status and body["request_id"].startswith("req_")
    assert body["request_id"] == response.headers["x-request-id"]
    return body


def test_unknown_route_and_wrong_method(api: ApiHarness) -> None:
    _is_problem(api.client.get("/v1/nothing-here", headers=api.headers()), 404)
    _is_problem(api.client.put("/v1/api_keys", headers=api.headers()), 405)


def test_body_that_is_not_json_is_400(api: ApiHarness) -> None:
    response = api.client.post(
        "/v1/api_keys",
        content=b"{not json",
        headers=api.headers(**{"Content-Type": "application/json"}),
    )
    _is_problem(response, 400)


def test_unknown_body_field_is_422_naming_it(api: ApiHarness) -> None:
    body = _is_problem(
        api.client.post(
            "/v1/api_keys", json={"role": "viewer", "colour": "red"}, headers=api.headers()
        ),
        422,
    )
    assert ["body", "colour"] in [e["loc"] for e in body["errors"]]


def test_bad_enum_value_is_422_naming_it(api: ApiHarness) -> None:
    body = _is_problem(
        api.client.post("/v1/api_keys", json={"role": "root"}, headers=api.headers()), 422
    )
    assert ["body", "role"] in [e["loc"] for e in body["errors"]]


def test_body_over_the_cap_is_413(small_cap_client: tuple[TestClient, ApiHarness]) -> None:
    client, harness = small_cap_client
    big = {"role": "viewer", "name": "x" * 2000}
    _is_problem(client.post("/v1/api_keys", json=big, headers=harness.headers()), 413)

    def chunks() -> Iterator[bytes]:  # no Content-Length: the cap counts bytes as they come
        yield b'{"role": "viewer", "name": "'
        for _ in range(40):
            yield b"y" * 100
        yield b'"}'

    _is_problem(client.post("/v1/api_keys", content=chunks(), headers=harness.headers()), 413)


def test_unexpected_error_is_500_without_trace_or_sql(
    small_cap_client: tuple[TestClient, ApiHarness],
) -> None:
    client, harness = small_cap_client
    body = _is_problem(client.get("/v1/_test/boom", headers=harness.headers()), 500)
    text = str(body)
    assert "SELECT" not in text and "example.com" not in text and "Traceback" not in text
