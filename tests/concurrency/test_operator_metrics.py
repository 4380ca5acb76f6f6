"""``GET /metrics`` on its own port (``COHORTD_METRICS_PORT``): Prometheus text with
requests by route and status, latency, the answer cache, deadlines and readers."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from cohortd.app import create_app
from cohortd.warehouse import Scope
from tests.fixtures.api import ApiHarness, make_settings, new_org
from tests.fixtures.example_small import Customer, Dataset, Stretch, load

DATA = Dataset(
    customers=[Customer("de1", country="DE")],
    stretches=[Stretch("de1", "EUR", "100", date(2024, 1, 5))],
)
URL = "/v1/reports/cohort?date=2024-03-31"


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiHarness]:
    tmp: Path = tmp_path_factory.mktemp("metrics")
    app = create_app(make_settings(tmp, metrics_port=0), configure_logs=False)
    with TestClient(app, raise_server_exceptions=False) as client:
        harness = new_org(app)
        harness.client = client
        yield harness


def _scrape(harness: ApiHarness) -> tuple[str, dict[str, float]]:
    port = harness.app.state.metrics_server.port
    response = httpx.get(f"http://127.0.0.1:{port}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    values = {}
    for line in response.text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return response.text, values


def test_metrics_count_requests_cache_and_readers(harness: ApiHarness) -> None:
    load(harness.warehouse, Scope(harness.org_id, False), DATA)
    for _ in range(3):  # one computed, two from the cache
        assert harness.client.get(URL, headers=harness.headers()).status_code == 200
    assert (
        harness.client.get("/v1/reports/cohort?date=nope", headers=harness.headers()).status_code
        == 400
    )
    text, values = _scrape(harness)
    route = 'method="GET",route="/v1/reports/cohort"'
    assert values[f'cohortd_http_requests_total{{{route},status="200"}}'] == 3
    assert values[f'cohortd_http_requests_total{{{route},status="400"}}'] == 1
    assert values[f"cohortd_http_request_duration_seconds_count{{{route}}}"] == 4
    assert values[f'cohortd_http_request_duration_seconds_bucket{{{route},le="+Inf"}}'] == 4
    # buckets are cumulative: never decreasing
    buckets = [
        v
        for k, v in values.items()
        if k.startswith(f"cohortd_http_request_duration_seconds_bucket{{{route}")
    ]
    assert buckets == sorted(buckets)
    assert values["cohortd_answer_cache_hits_total"] == 2
    assert values["cohortd_answer_cache_misses_total"] == 1
    assert values["cohortd_answer_cache_entries"] == 1
    assert values["cohortd_answer_cache_bytes"] > 0
    assert values["cohortd_warehouse_readers_in_flight"] == 0
    assert values["cohortd_request_deadlines_total"] == 0
    assert re.search(r"^# TYPE cohortd_http_request_duration_seconds histogram$", text, re.M)


def test_only_metrics_on_that_port(harness: ApiHarness) -> None:
    port = harness.app.state.metrics_server.port
    assert httpx.get(f"http://127.0.0.1:{port}/v1/reports/cohort").status_code == 404


def test_not_on_the_api_port(harness: ApiHarness) -> None:
    """The API's own port has no /metrics: process figures are not a tenant's."""
    assert harness.client.get("/metrics", headers=harness.headers()).status_code == 404
