"""The engine's suites run on every backend, Spark included."""

from __future__ import annotations

import pytest

from cohortd.warehouse import Warehouse
from tests.conftest import ENGINE_BACKENDS


@pytest.fixture(params=ENGINE_BACKENDS)
def warehouse(request: pytest.FixtureRequest) -> Warehouse:
    """The session's DuckDB, PostgreSQL and Spark warehouses (``new_scope`` isolates)."""
    return request.getfixturevalue(f"{request.param}_warehouse")
