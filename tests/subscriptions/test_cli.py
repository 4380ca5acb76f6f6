"""``cohortd subscriptions cancel|pause|resume|change-plan --json`` on a temp data dir
(no server: straight on the planes)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cohortd.cli.main import app
from cohortd.config import get_settings
from cohortd.warehouse import Scope, connect
from tests.engine.state_rows import Cust, Sub, load

runner = CliRunner()


@pytest.fixture
def org(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """One customer paying 12.00 USD from 2025-01-01 on (row ``s1``)."""
    monkeypatch.setenv("COHORTD_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    created = runner.invoke(app, ["orgs", "create", "CLI Org", "--json"])
    assert created.exit_code == 0, created.output
    org_id = json.loads(created.output)["id"]
    warehouse = connect(get_settings().resolved_warehouse_url)
    load(
        warehouse,
        Scope(org_id, False),
        [Cust("c1")],
        [Sub("s1", "c1", date(2025, 1, 1), None, 1200)],
    )
    warehouse.close()
    yield org_id
    get_settings.cache_clear()


def test_overrides_from_the_cli(org: str) -> None:
    def run(*args: str) -> dict:  # type: ignore[type-arg]
        result = runner.invoke(app, ["subscriptions", *args, "--org", org, "--json"])
        assert result.exit_code == 0, result.output
        return json.loads(result.output)  # type: ignore[no-any-return]

    changed = run(
        "change-plan", "s1", "--plan", "pro", "--mrr", "20", "--effective-date", "2025-03-01"
    )
    assert [(r["mrr"], r["start_date"], r["end_date"]) for r in changed["data"]] == [
        ("12.00", "2025-01-01", "2025-03-01"),
        ("20.00", "2025-03-01", None),
    ]
    new = changed["data"][1]["id"]
    paused = run("pause", new, "--effective-date", "2025-04-01")
    pause_id = paused["data"][2]["id"]
    assert paused["data"][2]["status"] == "paused"
    resumed = run("resume", pause_id, "--effective-date", "2025-05-01")
    # 20.00 on pro again from 05-01: the plan of the row that ended where the pause began
    assert (resumed["data"][3]["mrr"], resumed["data"][3]["start_date"]) == ("20.00", "2025-05-01")
    cancelled = run("cancel", resumed["data"][3]["id"], "--effective-date", "2025-06-01")
    assert cancelled["data"][3]["end_date"] == "2025-06-01"
    refused = runner.invoke(
        app, ["subscriptions", "cancel", "s1", "--org", org, "--effective-date", "2030-01-01"]
    )
    assert refused.exit_code == 1
    assert "does not cover" in refused.output
