"""The start-up warm-up (``reports.warm``): the demo organization's default report is
built and compiled before the first request, and a bad demo file stops nothing."""

from __future__ import annotations

import json
from datetime import date

from fastapi.testclient import TestClient

from cohortd.app import create_app
from cohortd.config import DEMO_FILE, demo_org_id
from cohortd.engine import compiled
from cohortd.reports.warm import warm
from cohortd.warehouse import Scope
from tests.fixtures.api import make_settings, new_org
from tests.fixtures.example_small import Customer, Dataset, Stretch, load


def _report_keys(org_id: str) -> set[str]:
    """The names of the report statements compiled for ``org_id``'s test mode."""
    return {
        key[2]
        for key in compiled._sql
        if len(key) > 3 and key[1] == "report" and key[3] == Scope(org_id, livemode=False)
    }


def test_the_demo_organizations_default_report_is_compiled_at_start(tmp_path) -> None:
    settings = make_settings(tmp_path)
    app = create_app(settings, configure_logs=False)
    with TestClient(app):  # the lifespan opens the planes (and warms: no demo file yet)
        harness = new_org(app, base_currency="EUR")
        data = Dataset(
            customers=[Customer(id="a")],
            stretches=[Stretch("a", "USD", "10.00", date(2024, 1, 5), None)],
        )
        load(app.state.warehouse, Scope(harness.org_id, livemode=False), data)
    (tmp_path / DEMO_FILE).write_text(json.dumps({"org_id": harness.org_id}))
    assert demo_org_id(settings) == harness.org_id
    compiled.clear()

    app = create_app(settings, configure_logs=False)
    with TestClient(app) as client:
        warm(settings, app.state.sessions, app.state.warehouse)  # what start-up runs
        assert _report_keys(harness.org_id) == {"sizes", "pairs", "triangle"}
        # and the first request answers the same report the warm-up computed
        body = client.get("/v1/reports/cohort?interval=month", headers=harness.headers()).json()
        assert body["currency"] == "EUR" and body["result"]["list"][0]["initial_customers"] == 1


def test_a_broken_demo_file_is_ignored(tmp_path, caplog) -> None:
    settings = make_settings(tmp_path)
    (tmp_path / DEMO_FILE).write_text("{not json")
    assert demo_org_id(settings) is None
    (tmp_path / DEMO_FILE).write_text(json.dumps({"org_id": "org_missing"}))
    app = create_app(settings, configure_logs=False)
    with TestClient(app) as client:
        warm(settings, app.state.sessions, app.state.warehouse)
        assert client.get("/healthz").status_code == 200
    assert not [r for r in caplog.records if r.name == "cohortd.warm" and r.levelname == "WARNING"]


def test_imports_a_dead_process_never_caught_up_are_caught_up_at_start(tmp_path) -> None:
    from cohortd.engine import derived
    from cohortd.imports.columns import ImportKind
    from cohortd.imports.parsing import ImportSource
    from cohortd.imports.pipeline import run_import
    from tests.fixtures.example_small import SMALL

    settings = make_settings(tmp_path)
    scopes = [Scope("org_warm_a", livemode=False), Scope("org_warm_b", livemode=True)]
    app = create_app(settings, configure_logs=False)
    with TestClient(app):
        warm(settings, app.state.sessions, app.state.warehouse)  # nothing waits yet
        for scope in scopes:  # committed, never caught up: as after a crash
            source = ImportSource(ImportKind.customers, SMALL / "customers.csv", "c.csv")
            assert run_import(app.state.warehouse, scope, [source]).succeeded
            assert derived.stale(app.state.warehouse, scope)
    app = create_app(settings, configure_logs=False)
    with TestClient(app):
        warm(settings, app.state.sessions, app.state.warehouse)  # what start-up runs
        assert not any(derived.stale(app.state.warehouse, scope) for scope in scopes)
        assert derived.catch_up_everywhere(app.state.warehouse) == 0
