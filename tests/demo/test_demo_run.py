"""``cohortd demo`` (without serving): the demo organization comes with its auto cohorts
and a first succeeded snapshot run, so Cohorts, Compare and Anomalies have content."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tests.fixtures.api import make_settings

from cohortd.app import create_app
from cohortd.cli.demo_run import prepare_demo
from cohortd.config import get_settings


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("COHORTD_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


@pytest.mark.timeout(600)  # generates, imports and records a run: minutes on a loaded machine
def test_demo_has_cohorts_a_run_and_a_comparison(data_dir: Path) -> None:
    info = prepare_demo(customers=150, seed=7, base_url="http://127.0.0.1:1", show=False)
    app = create_app(make_settings(data_dir), configure_logs=False)
    headers = {"Authorization": f"Bearer {info['test_key']}"}
    with TestClient(app) as client:
        cohorts = client.get("/api/cohorts/definitions", headers=headers).json()
        kinds = {d["cohort_type"] for d in cohorts["definitions"]}
        assert {"vintage", "segment", "territory", "rep"} <= kinds
        (run,) = client.get("/v1/snapshots/runs", headers=headers).json()["data"]
        assert (run["status"], run["trigger"]) == ("succeeded", "demo")
        assert run["cohort_count"] == cohorts["count"]
        ranked = client.get("/v1/cohorts/compare?cohort_type=segment", headers=headers).json()
        assert any(entry["nrr"] is not None for entry in ranked["data"])
    # a second start reuses the organization: no second run
    again = prepare_demo(customers=150, seed=7, base_url="http://127.0.0.1:1", show=False)
    assert again["org_id"] == info["org_id"]
