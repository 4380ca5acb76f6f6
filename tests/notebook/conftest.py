"""The small example loaded once per stack (SQLite + DuckDB, PostgreSQL for both
planes), served by the real app and opened by ``cohortd.open`` on the same planes, so a
test can ask both and compare."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import matplotlib
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import cohortd
from cohortd.notebook import Workspace
from cohortd.warehouse import Scope
from tests.fixtures import example_small
from tests.fixtures.api import ApiHarness, new_org

matplotlib.use("Agg")


@dataclass
class Both:
    """One organization, seen through the API (``get``) and the notebook (``ws``)."""

    harness: ApiHarness
    ws: Workspace

    def get(self, path: str, **params: Any) -> tuple[int, Any]:
        response = self.harness.client.get(path, params=params, headers=self.harness.headers())
        return response.status_code, response.json()


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def both(request: pytest.FixtureRequest) -> Iterator[Both]:
    app, client = request.getfixturevalue(f"{request.param}_app")
    assert isinstance(app, FastAPI) and isinstance(client, TestClient)
    harness = new_org(app, base_currency=example_small.base_currency())
    harness.client = client
    example_small.load(
        harness.warehouse,
        Scope(org_id=harness.org_id, livemode=False),
        example_small.small_dataset(),
    )
    settings = app.state.settings
    with cohortd.open(
        settings.data_dir,
        org=harness.org_id,
        database_url=settings.resolved_database_url,
        warehouse_url=settings.resolved_warehouse_url,
    ) as ws:
        yield Both(harness=harness, ws=ws)


@pytest.fixture(autouse=True)
def _close_figures() -> Iterator[None]:
    yield
    import matplotlib.pyplot as plt

    plt.close("all")
