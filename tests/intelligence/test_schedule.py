"""The daily snapshot schedule: parsing, next run time, the run over every organization,
and the thread started by the app's lifespan only when ``COHORTD_SNAPSHOT_SCHEDULE`` is set."""

from __future__ import annotations

from datetime import UTC, datetime, time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tests.fixtures.api import make_settings, new_org

from cohortd.app import create_app
from cohortd.intelligence import schedule


def test_parse_schedule() -> None:
    assert schedule.parse_schedule("03:30") == time(3, 30)
    for bad in ("3:30", "03-30", "25:00", "ab:cd", ""):
        with pytest.raises(ValueError):
            schedule.parse_schedule(bad)


def test_next_run_is_strictly_after_now() -> None:
    at = time(3, 30)
    # 03:29 → today 03:30; 03:30 exactly → tomorrow; 23:00 → tomorrow
    assert schedule.next_run(datetime(2025, 1, 1, 3, 29, tzinfo=UTC), at) == datetime(
        2025, 1, 1, 3, 30, tzinfo=UTC
    )
    assert schedule.next_run(datetime(2025, 1, 1, 3, 30, tzinfo=UTC), at) == datetime(
        2025, 1, 2, 3, 30, tzinfo=UTC
    )
    assert schedule.next_run(datetime(2025, 12, 31, 23, 0, tzinfo=UTC), at) == datetime(
        2026, 1, 1, 3, 30, tzinfo=UTC
    )


def test_record_all_runs_every_organization_and_mode(tmp_path: Path) -> None:
    # a fresh app with two organizations: 2 organizations x 2 modes = 4 runs
    app = create_app(make_settings(tmp_path), configure_logs=False)
    with TestClient(app) as client:
        first, second = new_org(app), new_org(app, base_currency="EUR")
        created = client.post(
            "/v1/cohorts", headers=first.headers("test"), json={"name": "all", "definition": {}}
        )
        assert created.status_code == 201
        assert schedule.record_all(app.state.sessions, app.state.warehouse, trigger="t") == 4
        changes = client.get(
            f"/v1/cohorts/{created.json()['id']}/membership_changes",
            headers=first.headers("test"),
        )
        assert changes.status_code == 200 and changes.json()["data"] == []  # one run: no diff
        assert second.org_id != first.org_id


def test_lifespan_starts_the_schedule_only_when_set(tmp_path: Path) -> None:
    off = create_app(make_settings(tmp_path / "off"), configure_logs=False)
    with TestClient(off):
        assert not _schedule_threads()
    on = create_app(make_settings(tmp_path / "on", snapshot_schedule="03:30"), configure_logs=False)
    with TestClient(on):
        assert _schedule_threads()
    assert not _schedule_threads()  # stopped with the app


def _schedule_threads() -> list[str]:
    import threading

    return [t.name for t in threading.enumerate() if t.name == "cohortd-snapshots" and t.is_alive()]
