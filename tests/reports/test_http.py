"""``GET /v1/reports/cohort`` over HTTP (auth, problem+json, limits, cohort_id) and the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cohortd.keys.models import Role
from cohortd.warehouse import Scope
from tests.fixtures.api import ApiHarness
from tests.fixtures.example_small import Customer, Dataset, Stretch, load
from tests.reports.helpers import row

URL = "/v1/reports/cohort"
DATA = Dataset(
    customers=[Customer("de1", country="DE"), Customer("us1", country="US")],
    stretches=[
        Stretch("de1", "EUR", "100", date(2024, 1, 5)),
        Stretch("us1", "USD", "50", date(2024, 2, 5), date(2024, 3, 1)),
    ],
)


@contextmanager
def settings_changed(api: ApiHarness, **values: object) -> Iterator[None]:
    """Change the shared app's settings for one test, then put them back."""
    settings = api.app.state.settings
    before = {name: getattr(settings, name) for name in values}
    for name, value in values.items():
        setattr(settings, name, value)
    try:
        yield
    finally:
        for name, value in before.items():
            setattr(settings, name, value)


def test_viewer_reads_and_anonymous_does_not(api: ApiHarness) -> None:
    load(api.warehouse, Scope(api.org_id, False), DATA)
    viewer = api.new_key(Role.viewer)
    response = api.client.get(f"{URL}?date=2024-03-31", headers=api.headers(key=viewer))
    assert response.status_code == 200
    # de1 in January at 100 EUR; the org's base is USD: converted, > 0
    assert row(response.json(), "2024-01-31")["initial_customers"] == 1
    assert api.client.get(URL).status_code == 401


def test_live_key_sees_no_test_data(api: ApiHarness) -> None:
    load(api.warehouse, Scope(api.org_id, False), DATA)
    body = api.client.get(f"{URL}?date=2024-03-31", headers=api.headers("live")).json()
    assert body["result"] == {"list": [{"cohort_group": "average", "periods": []}]}


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("interval=hour", "interval"),
        ("date=31-01-2024", "date"),
        ("baseCurrency=EURO", "baseCurrency"),
        ("breakdown=size", "breakdown"),
        ("region=mars", "region"),
        ("fix_fx=2", "fix_fx"),
        ("format=csv", "format"),
    ],
)
def test_bad_parameter_is_a_400_problem(api: ApiHarness, query: str, parameter: str) -> None:
    response = api.client.get(f"{URL}?{query}", headers=api.headers())
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == 400 and parameter in problem["detail"]
    assert problem["errors"] == [{"loc": ["query", parameter], "msg": problem["errors"][0]["msg"]}]


def test_too_large_report_is_422_saying_what_to_narrow(api: ApiHarness) -> None:
    load(api.warehouse, Scope(api.org_id, False), DATA)
    # monthly from 2024-01 to 2024-03: 3 cohorts → 3 + 2 + 1 cells + 3 average = 9 > 5
    with settings_changed(api, report_max_cells=5):
        response = api.client.get(f"{URL}?date=2024-03-31", headers=api.headers())
    assert response.status_code == 422
    assert "narrow" in response.json()["detail"] and "interval" in response.json()["detail"]
    with settings_changed(api, report_max_cells=9):
        assert api.client.get(f"{URL}?date=2024-03-31", headers=api.headers()).status_code == 200


def test_an_amount_in_a_currency_without_rates_is_422_naming_it(api: ApiHarness) -> None:
    unrated = Dataset(  # KES: not in the ECB history, and the org has no rate for it
        customers=[Customer("ke1", country="KE")],
        stretches=[Stretch("ke1", "KES", "3000", date(2024, 1, 5))],
    )
    load(api.warehouse, Scope(api.org_id, False), unrated)
    response = api.client.get(f"{URL}?date=2024-03-31", headers=api.headers())
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["type"].endswith("unknown-currency") and "KES" in problem["detail"]


def test_query_past_the_timeout_is_503(api: ApiHarness) -> None:
    load(api.warehouse, Scope(api.org_id, False), DATA)
    with settings_changed(api, query_timeout_seconds=0.0):
        response = api.client.get(f"{URL}?date=2024-03-31&interval=week", headers=api.headers())
    assert response.status_code == 503
    assert response.json()["type"].endswith("query-timeout")
    # the connection is usable afterwards
    assert api.client.get(f"{URL}?date=2024-03-31", headers=api.headers()).status_code == 200


def test_cohort_id_restricts_the_universe(api: ApiHarness) -> None:
    load(api.warehouse, Scope(api.org_id, False), DATA)
    created = api.client.post(
        "/v1/cohorts",
        json={"name": "Germany", "definition": {"countries": ["DE"]}},
        headers=api.headers(**{"Idempotency-Key": "report-cohort-1"}),
    )
    assert created.status_code == 201, created.text
    cohort_id = created.json()["id"]
    body = api.client.get(
        f"{URL}?date=2024-03-31&breakdown=country&cohort_id={cohort_id}", headers=api.headers()
    ).json()
    assert [r["cohort_group"] for r in body["result"]["list"]] == ["DE", "average"]
    missing = api.client.get(f"{URL}?cohort_id=cohort_nope", headers=api.headers())
    assert missing.status_code == 404


def test_cli_prints_table_json_and_csv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cohortd.cli.main import app
    from cohortd.cli.orgs import create_org_with_keys
    from cohortd.config import get_settings
    from cohortd.warehouse import connect

    monkeypatch.setenv("COHORTD_DATA_DIR", str(tmp_path))
    # a fresh process compiles its SQL first: the production deadline is not for a
    # test machine running suites side by side
    monkeypatch.setenv("COHORTD_QUERY_TIMEOUT_SECONDS", "120")
    get_settings.cache_clear()
    try:
        org = create_org_with_keys("CLI", "EUR")
        warehouse = connect(get_settings().resolved_warehouse_url)
        load(warehouse, Scope(str(org["id"]), False), DATA)
        warehouse.close()
        runner = CliRunner()
        base = ["report", "--org", str(org["id"]), "--date", "2024-03-31"]
        as_json = runner.invoke(app, [*base, "--format", "json"])
        assert as_json.exit_code == 0, as_json.output
        body = json.loads(as_json.output)
        # base EUR: de1 pays 100 EUR from January: exactly 100
        assert body["currency"] == "EUR" and row(body, "2024-01-31")["initial_mrr"] == 100.0
        table = runner.invoke(app, [*base, "--metric", "customers"])
        assert table.exit_code == 0 and "2024-01-31" in table.output
        csv_out = runner.invoke(app, [*base, "--format", "csv"])
        assert csv_out.output.splitlines()[0].startswith("cohort_group,initial_customers")
        bad = runner.invoke(app, [*base, "--interval", "hour"])
        assert bad.exit_code == 1
    finally:
        get_settings.cache_clear()


@pytest.mark.parametrize(
    "query",
    [
        "date=9999-12-31&interval=year",
        "date=9999-12-31&interval=day",
        "date=0001-01-01",
        "date=1999-01-04&interval=quarter",
        "interval=DAY&breakdown=Currency&fix_fx=1&format=CHART&baseCurrency=jpy",
        "region=&currency=&industry=&breakdown=",
        "region=EU emea apac latam north_america nordics dach&size=x",
    ],
)
def test_valid_edge_values_never_answer_5xx(api: ApiHarness, query: str) -> None:
    load(api.warehouse, Scope(api.org_id, False), DATA)
    response = api.client.get(f"{URL}?{query}", headers=api.headers())
    if query.startswith(("date=9999", "date=0001")):
        # days outside 1900-01-01..2200-12-31 are refused (docs/reliability.md)
        assert response.status_code == 400, response.text
        assert response.json()["errors"] == [
            {"loc": ["query", "date"], "msg": "must be between 1900-01-01 and 2200-12-31"}
        ]
        return
    # a far date makes a huge report (422 saying what to narrow); everything else is 200
    assert response.status_code in (200, 422), response.text


def test_the_calendar_s_last_period(warehouse, new_scope, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from tests.reports.helpers import run

    # The API refuses days after 2200-12-31 (docs/reliability.md); the engine itself
    # still handles the calendar's last period, which this test checks.
    monkeypatch.setattr("cohortd.api.bounds.MAX_DAY", date(9999, 12, 31))
    scope = new_scope()
    load(
        warehouse,
        scope,
        Dataset([Customer("z")], [Stretch("z", "USD", "5", date(9999, 3, 1))]),
    )
    body = run(warehouse, scope, "?date=9999-12-31&interval=quarter")
    # cohorts 9999-Q1 .. Q4; the last one ends on 9999-12-31 and is complete
    groups = [r["cohort_group"] for r in body["result"]["list"]]
    assert groups == ["9999-03-31", "9999-06-30", "9999-09-30", "9999-12-31", "average"]
    assert row(body, "9999-03-31")["periods"][3] == {
        **row(body, "9999-03-31")["periods"][3],
        "mrr_retained": 5.0,
        "complete": True,
    }
