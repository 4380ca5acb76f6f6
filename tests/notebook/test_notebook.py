"""``cohortd.open(...)``: the API's numbers, to the cent, without a server; the API's
errors for bad parameters, before any query runs."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlparse

import pyarrow.parquet as pq
import pytest

import cohortd
from cohortd.client import BadRequestError, ClientError, NotFoundError, UnprocessableEntityError
from cohortd.notebook import Report
from tests.fixtures import example_small
from tests.notebook.conftest import Both

# the notebook's keyword for each query parameter of the API
KEYWORDS = {"baseCurrency": "base_currency"}


def _keywords(url: str) -> dict[str, Any]:
    params = dict(parse_qsl(urlparse(url).query))
    params.pop("format", None)  # the notebook's answers are the list format, framed
    return {KEYWORDS.get(name, name): value for name, value in params.items()}


@pytest.mark.parametrize("name", sorted(example_small.expected()))
def test_report_is_the_apis_to_the_cent(both: Both, name: str) -> None:
    url, published = example_small.expected()[name]
    keywords = _keywords(url)
    report = both.ws.report(**keywords)
    api_params = dict(parse_qsl(urlparse(url).query), format="list")
    status, api = both.get("/v1/reports/cohort", **api_params)
    assert status == 200
    assert report.body == api  # the very same body, every cell
    if published["result"] and isinstance(published["result"], dict):
        # and the worked example's published answer (its stated tolerance: 0.01)
        for row, want in zip(report.cohorts(), published["result"]["list"], strict=True):
            for got, cell in zip(row["periods"], want["periods"], strict=True):
                assert abs(got["mrr_retained"] - cell["mrr_retained"]) <= 0.01


def test_frames_hold_every_cell_exactly(both: Both, tmp_path: Path) -> None:
    report = both.ws.report(interval="quarter", date="2025-08-01", base_currency="EUR")
    cohorts = report.cohorts()
    tidy = report.to_pandas()
    assert len(tidy) == sum(len(c["periods"]) for c in cohorts)  # one row per cohort x period
    first = cohorts[0]
    row = tidy[(tidy.cohort_group == first["cohort_group"]) & (tidy.period == 1)].iloc[0]
    assert row.mrr_retained == first["periods"][1]["mrr_retained"]  # the JSON's float
    assert row.initial_customers == first["initial_customers"]
    exact = report.to_pandas(exact=True)
    assert exact.mrr_retained.iloc[0] == Decimal(repr(first["periods"][0]["mrr_retained"]))
    wide = report.to_pandas(wide=True, value="customer_retention")
    assert list(wide.index) == [c["cohort_group"] for c in cohorts]
    assert wide.loc[first["cohort_group"], 0] == first["periods"][0]["customer_retention"]
    assert wide.columns[-1] == max(len(c["periods"]) for c in cohorts) - 1
    polars = report.to_polars()
    assert polars.shape == tidy.shape
    assert str(polars.schema["mrr_retained"]).startswith("Decimal")
    written = report.to_parquet(tmp_path / "report.parquet")
    assert pq.read_table(written).equals(report.to_arrow())
    assert report.to_polars(wide=True).width == wide.shape[1] + 1


def test_cohort_answers_are_the_apis(both: Both) -> None:
    created = both.harness.client.post(
        "/v1/cohorts",
        json={"name": "DACH", "definition": {"countries": ["DE", "AT", "CH"]}},
        headers=both.harness.headers(),
    )
    assert created.status_code == 201
    cohort_id = created.json()["id"]
    listed = both.ws.cohorts()
    assert cohort_id in {row["id"] for row in listed.rows()}
    _, api_list = both.get("/v1/cohorts", limit=100)
    assert listed.rows() == api_list["data"]
    members = both.ws.cohort(cohort_id, as_of="2025-06-15")
    _, api_members = both.get(f"/v1/cohorts/{cohort_id}/members", limit=100, as_of="2025-06-15")
    assert members.rows() == api_members["data"] and members.cohort["id"] == cohort_id
    assert set(members.to_pandas().country) <= {"DE", "AT", "CH"}
    snapshots = both.ws.snapshots(
        cohort_id, interval="quarter", from_="2024-01-01", to="2025-06-30"
    )
    _, api_snapshots = both.get(
        f"/v1/cohorts/{cohort_id}/snapshots",
        interval="quarter",
        **{"from": "2024-01-01"},
        to="2025-06-30",
    )
    assert snapshots.body == api_snapshots
    assert len(snapshots.to_arrow()) == len(api_snapshots["data"])
    curve = both.ws.curve(cohort_id, months=12, base_currency="EUR")
    _, api_curve = both.get(f"/v1/cohorts/{cohort_id}/curve", months="12", baseCurrency="EUR")
    assert curve.body == api_curve
    assert list(curve.to_pandas().month) == list(range(len(api_curve["periods"])))


BAD_REPORTS = [
    # (keyword arguments, API query, the parameter the problem names)
    ({"interval": "fortnight"}, {"interval": "fortnight"}, "interval"),
    ({"date": "2025-13-01"}, {"date": "2025-13-01"}, "date"),
    ({"base_currency": "XXY"}, {"baseCurrency": "XXY"}, "baseCurrency"),
    ({"breakdown": "planet"}, {"breakdown": "planet"}, "breakdown"),
    ({"region": ["dach", "atlantis"]}, {"region": "dach atlantis"}, "region"),
    ({"currency": "usd eurx"}, {"currency": "usd eurx"}, "currency"),
]


@pytest.mark.parametrize(("keywords", "query", "named"), BAD_REPORTS)
def test_a_bad_parameter_is_the_apis_problem_before_any_query(
    both: Both,
    monkeypatch: pytest.MonkeyPatch,
    keywords: dict[str, Any],
    query: dict[str, str],
    named: str,
) -> None:
    status, api = both.get("/v1/reports/cohort", **query)

    def no_query(*_: object, **__: object) -> None:
        raise AssertionError("a query ran before the parameters were checked")

    for method in ("to_pyarrow", "execute", "fetch_rows", "fetch_arrow"):
        monkeypatch.setattr(both.ws.warehouse, method, no_query)
    with pytest.raises(BadRequestError) as caught:
        both.ws.report(**keywords)
    error = caught.value
    assert error.status == status == 400
    assert error.fields == [named]
    api.pop("request_id")
    assert error.body == api  # the same problem, field for field


def test_other_errors_match_the_api(both: Both) -> None:
    with pytest.raises(NotFoundError) as missing:
        both.ws.curve("cohort_nope")
    status, api = both.get("/v1/cohorts/cohort_nope/curve")
    api.pop("request_id")
    assert (missing.value.status, missing.value.body) == (status, api)
    with pytest.raises(BadRequestError) as months:
        both.ws.curve("cohort_nope", months=999)  # parameters first, then the cohort
    assert months.value.fields == ["months"]
    with pytest.raises(BadRequestError) as interval:
        both.ws.snapshots("cohort_nope", interval="week")
    assert interval.value.fields == ["interval"]
    with pytest.raises(UnprocessableEntityError) as as_of:
        both.ws.cohorts(as_of="yesterday")
    status, _ = both.get("/v1/cohorts", as_of="yesterday")
    assert as_of.value.status == status == 422 and as_of.value.fields == ["as_of"]
    with pytest.raises(ClientError):
        both.ws.cohorts(cohort_type="galaxy")


def test_metrics_are_the_apis(both: Both) -> None:
    metrics = both.ws.metrics(
        interval="month", start_date="2024-01-01", end_date="2025-06-30", base_currency="EUR"
    )
    _, api = both.get(
        "/v1/metrics",
        interval="month",
        start_date="2024-01-01",
        end_date="2025-06-30",
        baseCurrency="EUR",
    )
    assert metrics.body == api
    assert len(metrics.to_arrow()) == len(api["entries"]) == 18
    bad = both.harness.client.get(
        "/v1/metrics", params={"interval": "fortnight"}, headers=both.harness.headers()
    )
    with pytest.raises(BadRequestError) as raised:
        both.ws.metrics(interval="fortnight")
    assert raised.value.status == bad.status_code == 400


def test_an_unknown_organization_or_mode_is_refused(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        cohortd.open(tmp_path, org="org_missing")
    with pytest.raises(UnprocessableEntityError) as mode:
        cohortd.open(tmp_path, org="org_missing", mode="staging")
    assert mode.value.fields == ["mode"]


def test_report_type_is_exported() -> None:
    assert cohortd.open is cohortd.notebook.open and Report.__name__ == "Report"
