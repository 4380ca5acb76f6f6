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


@pytest.mark.spark
@pytest.mark.timeout(900)  # the demo twice, once on a local Spark session
def test_the_demo_on_spark_serves_the_numbers_of_the_embedded_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spark_warehouse: object
) -> None:
    # `spark_warehouse` starts the test run's one Spark session, which the demo's
    # warehouse joins (and leaves running)
    from tests.conftest import spark_url

    pages = [
        "/v1/reports/cohort?interval=month",
        "/v1/reports/cohort?interval=week&breakdown=currency",
        "/v1/metrics?interval=month",
        "/v1/cohorts/compare?cohort_type=segment",
    ]
    bodies = {}
    for name in ("duckdb", "spark"):
        folder = tmp_path / name
        overrides = {"warehouse_url": spark_url(folder / "lake")} if name == "spark" else {}
        monkeypatch.setenv("COHORTD_DATA_DIR", str(folder))
        if overrides:
            monkeypatch.setenv("COHORTD_WAREHOUSE_URL", overrides["warehouse_url"])
        get_settings.cache_clear()
        try:
            info = prepare_demo(customers=150, seed=7, base_url="http://127.0.0.1:1", show=False)
        finally:
            get_settings.cache_clear()
        app = create_app(make_settings(folder, **overrides), configure_logs=False)
        headers = {"Authorization": f"Bearer {info['test_key']}"}
        with TestClient(app) as client:
            (run,) = client.get("/v1/snapshots/runs", headers=headers).json()["data"]
            assert run["status"] == "succeeded"
            answers = [client.get(page, headers=headers) for page in pages]
        assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
        bodies[name] = [_without_ids(a.json()) for a in answers]
    assert bodies["duckdb"][0]["result"]
    for page, duck, spark in zip(pages, bodies["duckdb"], bodies["spark"], strict=True):
        assert spark == duck, page


def _without_ids(body: object) -> object:
    """``body`` without its cohorts' ids (each demo generates ids of its own)."""
    if isinstance(body, dict):
        return {k: _without_ids(v) for k, v in body.items() if k != "cohort_id"}
    if isinstance(body, list):
        return [_without_ids(v) for v in body]
    return body
