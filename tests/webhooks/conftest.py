"""Webhook fixtures: apps with a short retry schedule, a receiver on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from cohortd.app import create_app
from tests.conftest import fresh_postgres_database
from tests.fixtures.api import ApiHarness, _harness, make_settings
from tests.webhooks.receiver import Receiver, start_receiver

SHORT = {
    "webhook_retry_schedule": "0.3,0.3,0.3",
    "webhook_retry_window_hours": 0.002,  # 7.2 s after the first attempt: then failed
    "webhook_timeout_s": 2.0,
    "webhook_lease_s": 5.0,
}


@pytest.fixture(scope="session")
def hooks_sqlite_app(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[FastAPI, TestClient]]:
    app = create_app(make_settings(tmp_path_factory.mktemp("hooks"), **SHORT), configure_logs=False)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield app, client


@pytest.fixture(scope="session")
def hooks_postgres_app(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[FastAPI, TestClient]]:
    """On a database of its own: no other app's delivery loop (with the default retry
    schedule) takes these deliveries, so the short schedule's timings hold."""
    with fresh_postgres_database("hooks") as url:
        settings = make_settings(
            tmp_path_factory.mktemp("hookspg"), database_url=url, warehouse_url=url, **SHORT
        )
        app = create_app(settings, configure_logs=False)
        with TestClient(app, raise_server_exceptions=False) as client:
            yield app, client


@pytest.fixture
def hooks(hooks_sqlite_app: tuple[FastAPI, TestClient]) -> ApiHarness:
    """A fresh organization on SQLite + DuckDB, with the short retry schedule."""
    return _harness(hooks_sqlite_app)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def hooks_any(request: pytest.FixtureRequest) -> ApiHarness:
    """The same test on SQLite + DuckDB and on PostgreSQL for both planes."""
    return _harness(request.getfixturevalue(f"hooks_{request.param}_app"))


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = start_receiver()
    yield found
    found.server.shutdown()
    found.server.server_close()
