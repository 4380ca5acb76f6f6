"""``cohortd snapshot``, ``cohortd anomalies`` and ``cohortd cohorts curve`` (--json).

One test-mode customer in cohort "x": 100 EUR from the first day of the month three
months before the last complete one (L), until the 11th of L → month L starts at 100
and churns 100: NRR 0 < 90 → one critical ``low_nrr``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.engine.state_rows import Cust, Sub, load
from typer.testing import CliRunner

from cohortd import clock
from cohortd.cli.main import app
from cohortd.config import get_settings
from cohortd.engine.periods import Interval, first_day, period_of
from cohortd.warehouse import Scope, connect

runner = CliRunner()


def _json(args: list[str]) -> Any:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@pytest.fixture
def org(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("COHORTD_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    org_id = str(_json(["orgs", "create", "CLI Org", "--base-currency", "EUR"])["id"])
    last = period_of(clock.today(), Interval.month) - 1
    start = first_day(last - 3, Interval.month)
    warehouse = connect(get_settings().resolved_warehouse_url)
    load(
        warehouse,
        Scope(org_id, livemode=False),
        [Cust("a", datetime(2020, 1, 1), segment="x")],
        [
            Sub(
                "a1",
                "a",
                start,
                first_day(last, Interval.month) + timedelta(days=10),
                100_00,
                currency="EUR",
            )
        ],
    )
    warehouse.close()
    yield org_id
    get_settings.cache_clear()


def test_snapshot_anomalies_and_curve(org: str) -> None:
    cohort = _json(["cohorts", "create", "x", "--org", org, "--definition", '{"segments":["x"]}'])
    run = _json(["snapshot", "--org", org, "--mode", "test"])
    assert (run["trigger"], run["cohort_count"], run["anomaly_count"]) == ("cli", 1, 1)
    listed = _json(["anomalies", "--org", org])
    assert [(a["type"], a["severity"], a["value"]) for a in listed] == [
        ("low_nrr", "critical", 0.0)
    ]
    # live mode has no cohorts: nothing recorded there
    assert _json(["snapshot", "--org", org, "--mode", "live"])["cohort_count"] == 0
    curve = _json(["cohorts", "curve", cohort["id"], "--org", org, "--months", "1"])
    # month 0 and 1 both at 100 of the initial 100
    assert [p["mrr_retention"] for p in curve["periods"]] == [100.0, 100.0]
    assert curve["currency"] == "EUR"


def test_unknown_organization_exits_1(org: str) -> None:
    result = runner.invoke(app, ["snapshot", "--org", "org_missing"])
    assert result.exit_code == 1
    assert "No organization" in result.output
