"""``cohortd cohorts create|list|show|members|delete --json`` on a temp data dir."""

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
from cohortd.warehouse import Scope, connect

runner = CliRunner()


@pytest.fixture
def org(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An organization in a temp data dir with two test-mode customers: one paying (US)."""
    monkeypatch.setenv("COHORTD_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    created = runner.invoke(app, ["orgs", "create", "CLI Org", "--json"])
    assert created.exit_code == 0, created.output
    org_id = json.loads(created.output)["id"]
    warehouse = connect(get_settings().resolved_warehouse_url)
    today = clock.today()
    load(
        warehouse,
        Scope(org_id, livemode=False),
        [
            Cust("c1", datetime(2024, 1, 1), country="US"),
            Cust("c2", datetime(2024, 1, 1), country="FR"),
        ],
        [Sub("s1", "c1", today - timedelta(days=3), None, 1200)],
    )
    warehouse.close()
    yield org_id
    get_settings.cache_clear()


def _json(args: list[str]) -> Any:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_cohort_lifecycle(org: str, tmp_path: Path) -> None:
    definition = tmp_path / "def.json"
    definition.write_text(json.dumps({"status": ["active"]}))
    created = _json(["cohorts", "create", "Payers", "--org", org, "--definition", f"@{definition}"])
    # c1 pays since 3 days ago → active; c2 has no subscriptions.
    assert created["member_count"] == 1 and created["livemode"] is False
    cohort_id = created["id"]
    listed = _json(["cohorts", "list", "--org", org, "--type", "custom"])
    assert [c["id"] for c in listed] == [cohort_id]
    # A week ago c1 had not started paying.
    week_ago = (clock.today() - timedelta(days=7)).isoformat()
    shown = _json(["cohorts", "show", cohort_id, "--org", org, "--as-of", week_ago])
    assert (shown["member_count"], shown["as_of"]) == (0, week_ago)
    members = _json(["cohorts", "members", cohort_id, "--org", org])
    assert [m["id"] for m in members["data"]] == ["c1"] and members["data"][0]["mrr"] == "12.00"
    # Live mode does not see test-mode cohorts.
    missing = runner.invoke(app, ["cohorts", "show", cohort_id, "--org", org, "--mode", "live"])
    assert missing.exit_code == 1 and "Not Found" in missing.output
    deleted = _json(["cohorts", "delete", cohort_id, "--org", org])
    assert deleted == {"id": cohort_id, "object": "cohort", "livemode": False, "deleted": True}
    assert _json(["cohorts", "list", "--org", org]) == []


def test_bad_definition_is_a_usage_error(org: str) -> None:
    result = runner.invoke(
        app,
        ["cohorts", "create", "Bad", "--org", org, "--definition", '{"engagement_score_min": 1.5}'],
    )
    assert result.exit_code == 2
    assert "engagement_score_min" in result.output


def test_human_output(org: str) -> None:
    result = runner.invoke(app, ["cohorts", "create", "Everyone", "--org", org])
    assert result.exit_code == 0, result.output
    assert "Everyone" in result.output
    listed = runner.invoke(app, ["cohorts", "list", "--org", org])
    assert listed.exit_code == 0 and "Everyone" in listed.output
