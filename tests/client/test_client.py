"""``cohortd.Client`` against a real server: typed answers, lazy paging, typed errors,
idempotency keys, keys from the environment."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

import cohortd
from cohortd.client import (
    AuthenticationError,
    BadRequestError,
    Client,
    NotFoundError,
    PermissionDeniedError,
    UnprocessableEntityError,
    models,
)
from cohortd.keys.models import Role
from tests.client.conftest import Served
from tests.fixtures import example_small


def _raw(served: Served, path: str, **params: str) -> Any:
    headers = {"Authorization": f"Bearer {served.key}"}
    response = httpx.get(served.url + path, params=params, headers=headers, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()


def _cells(report: models.CohortReport) -> list[tuple[str, int, Decimal, int]]:
    return [
        (row.cohort_group, k, period.mrr_retained, period.customers_retained)
        for row in report.rows
        for k, period in enumerate(row.periods)
    ]


@pytest.fixture
def client(served: Served) -> Iterator[Client]:
    with Client(served.url, served.key) as client:
        yield client


def test_report_has_the_api_numbers_to_the_cent(served: Served, client: Client) -> None:
    report = client.reports.cohort(interval="month", date="2025-06-15")
    assert isinstance(report, models.CohortReport)
    assert (report.interval, report.currency, report.breakdown) == ("month", "USD", None)
    raw = _raw(served, "/v1/reports/cohort", interval="month", date="2025-06-15")
    # Decimals parsed from the JSON text: 1234.56 is exactly Decimal("1234.56")
    expected_cells = [
        (row["cohort_group"], k, Decimal(str(p["mrr_retained"])), p["customers_retained"])
        for row in raw["result"]["list"]
        for k, p in enumerate(row["periods"])
    ]
    assert _cells(report) == expected_cells
    first = report.rows[0]
    assert first.initial_mrr == Decimal(str(raw["result"]["list"][0]["initial_mrr"]))
    # and the worked example's published answer (its tolerance: 0.01)
    _, published = example_small.expected()["monthly"]
    for row, want in zip(report.rows, published["result"]["list"], strict=True):
        assert row.cohort_group == want["cohort_group"]
        for got, cell in zip(row.periods, want["periods"], strict=True):
            assert abs(got.mrr_retention - Decimal(str(cell["mrr_retention"]))) <= Decimal("0.01")


def test_report_filters_take_lists_and_the_chart_format(client: Client) -> None:
    as_text = client.reports.cohort(interval="year", region="dach jp", date="2025-10-31")
    as_list = client.reports.cohort(interval="year", region=["dach", "jp"], date="2025-10-31")
    assert _cells(as_text) == _cells(as_list) and as_text.rows
    chart = client.reports.cohort(interval="quarter", breakdown="currency", format="chart")
    assert isinstance(chart.result, list) and chart.rows == []
    assert "average" in chart.result[0].breakdown


def test_lists_page_lazily(served: Served) -> None:
    seen: list[httpx.URL] = []
    hooks = {"request": [lambda request: seen.append(request.url)]}
    with httpx.Client(event_hooks=hooks) as http:
        _page_through(Client(served.url, served.key, http_client=http), seen)


def _page_through(client: Client, seen: list[httpx.URL]) -> None:
    created = [
        client.cohorts.create(name=f"paging {i}", definition={"countries": ["DE"]}).id
        for i in range(5)
    ]
    seen.clear()
    pager = client.cohorts.list(limit=2)
    assert seen == []  # nothing asked before iteration
    iterator = iter(pager)
    next(iterator)
    assert len(seen) == 1  # one page for the first item
    everything = [cohort.id for cohort in client.cohorts.list(limit=2)]
    assert [c for c in everything if c in created] == created  # ids ascend: creation order
    pages = [page for page in client.cohorts.list(limit=2).pages()]
    assert all(len(page.data) <= 2 for page in pages) and not pages[-1].has_more
    assert sum(len(page.data) for page in pages) == len(everything)
    assert seen[-1].params["starting_after"] == pages[-2].next_cursor
    members = client.cohorts.members(created[0], limit=3).to_list()
    assert members and all(m.country == "DE" for m in members)
    for cohort_id in created:
        client.cohorts.delete(cohort_id)


def test_subscribers_iterate_across_pages(client: Client) -> None:
    ids = [s.id for s in client.subscribers.list(limit=100)]
    assert len(ids) == 300 == len(set(ids))  # the example's 300 customers, 3 pages
    one = client.subscribers.get(ids[0])
    assert isinstance(one, models.Subscriber) and one.id == ids[0]


def test_a_bad_parameter_is_a_typed_error_naming_it(client: Client) -> None:
    with pytest.raises(BadRequestError) as caught:
        client.reports.cohort(interval="fortnight")
    error = caught.value
    assert error.status == 400
    assert error.type == "https://cohortd.dev/problems/invalid-parameter"
    assert error.fields == ["interval"] and "fortnight" in error.detail
    assert error.request_id is not None and error.request_id.startswith("req_")


def test_status_families_have_their_own_exceptions(served: Served, client: Client) -> None:
    with pytest.raises(NotFoundError) as missing:
        client.cohorts.get("cohort_nope")
    assert missing.value.status == 404
    with pytest.raises(AuthenticationError), Client(served.url, "rk_test_" + "x" * 32) as bad:
        bad.cohorts.list().first_page()
    with (
        pytest.raises(PermissionDeniedError),
        Client(served.url, served.new_key(Role.viewer)) as viewer,
    ):
        viewer.cohorts.create(name="not allowed")
    with pytest.raises(UnprocessableEntityError) as invalid:
        client.cohorts.create(name="", definition={"tenure_days_min": 9, "tenure_days_max": 1})
    assert "name" in invalid.value.fields


def test_writes_reuse_a_given_idempotency_key(served: Served, client: Client) -> None:
    first = client.cohorts.create(name="once", idempotency_key="nb-create-once")
    again = client.cohorts.create(name="once", idempotency_key="nb-create-once")
    assert again.id == first.id  # the stored answer, replayed
    other = client.cohorts.create(name="once")  # a fresh generated key: a new cohort
    assert other.id != first.id
    client.cohorts.delete(first.id)
    client.cohorts.delete(other.id)


def test_the_key_comes_from_the_environment(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COHORTD_API_KEY", served.key)
    with cohortd.Client(served.url) as from_env:
        assert from_env.health() == {"status": "ok"}
    monkeypatch.delenv("COHORTD_API_KEY")
    with pytest.raises(ValueError, match="COHORTD_API_KEY"):
        Client(served.url)


def test_intelligence_answers_parse(client: Client) -> None:
    cohort = client.cohorts.create(name="germany", definition={"countries": ["DE"]})
    snapshots = client.cohorts.snapshots(cohort.id, interval="quarter", from_="2025-01-01")
    assert snapshots.data and all(isinstance(s.starting_mrr, Decimal) for s in snapshots.data)
    curve = client.cohorts.curve(cohort.id, months=6)
    assert curve.cohort_id == cohort.id and len(curve.periods) <= 7
    compared = client.cohorts.compare(interval="quarter")
    assert cohort.id in {entry.cohort_id for entry in compared.data}
    listed = client.definitions.list(cohort_type="custom")
    assert cohort.id in {d.id for d in listed.definitions}
    run = client.snapshots.run()
    assert run.id.startswith("snaprun_")
    assert client.anomalies.settings().low_nrr_warning == Decimal(100)
    client.cohorts.delete(cohort.id)
