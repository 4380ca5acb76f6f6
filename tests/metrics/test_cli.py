"""``cohortd metrics``: the scenario population of tests/metrics/test_scenarios.py (March
2025 in EUR: mrr 517.5, customers 5, churn 100) as JSON, CSV, a table and one series."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from typer.testing import CliRunner

from cohortd.cli.main import app
from cohortd.config import get_settings
from cohortd.warehouse import Scope, connect
from tests.engine.state_rows import load
from tests.metrics.test_scenarios import CUSTOMERS, SUBS, add_rates

runner = CliRunner()
RANGE = ["--start-date", "2025-02-01", "--end-date", "2025-04-15"]


def _run(args: list[str]) -> str:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return result.output


def _json(args: list[str]) -> Any:
    return json.loads(_run([*args, "--json"]))


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COHORTD_DATA_DIR", str(tmp_path_factory.mktemp("metrics_cli")))
        get_settings.cache_clear()
        org_id = str(_json(["orgs", "create", "CLI Org", "--base-currency", "EUR"])["id"])
        warehouse = connect(get_settings().resolved_warehouse_url)
        scope = Scope(org_id, livemode=False)
        load(warehouse, scope, CUSTOMERS, SUBS)
        add_rates(
            warehouse,
            scope,
            [(date(2025, 1, 1), "ARS", Decimal(10)), (date(2025, 3, 31), "ARS", Decimal(8))],
        )
        warehouse.close()
        yield org_id
    get_settings.cache_clear()


def test_json_csv_and_table(org: str) -> None:
    body = _json(["metrics", "--org", org, *RANGE])
    assert body["currency"] == "EUR"
    assert [e["mrr"] for e in body["entries"]] == [500.0, 517.5, 517.5]
    as_csv = list(
        csv.DictReader(io.StringIO(_run(["metrics", "--org", org, *RANGE, "--format", "csv"])))
    )
    assert [(r["date"], r["churn_mrr"], r["customers"]) for r in as_csv] == [
        ("2025-02-28", "0.0", "4"),
        ("2025-03-31", "100.0", "5"),
        ("2025-04-15", "0.0", "5"),
    ]
    table = _run(["metrics", "--org", org, *RANGE])
    assert "517.50" in table and "2025-04-15 *" in table


def test_one_series_and_an_error(org: str) -> None:
    body = _json(["metrics", "--org", org, *RANGE, "--metric", "customers"])
    assert [e["value"] for e in body["entries"]] == [4, 5, 5]
    result = runner.invoke(app, ["metrics", "--org", org, "--interval", "fortnight"])
    assert result.exit_code == 1 and "interval" in result.output
