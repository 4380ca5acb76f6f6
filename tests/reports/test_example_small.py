"""The worked example of SPEC §2 (examples/small): six queries, exact answers (0.01)."""

from __future__ import annotations

import filecmp
from pathlib import Path

import pytest

from cohortd.warehouse import Scope, Warehouse
from tests.conftest import ENGINE_BACKENDS, require_service
from tests.fixtures.api import ApiHarness
from tests.fixtures.example_small import (
    SHARED_SMALL,
    SMALL,
    base_currency,
    expected,
    load,
    small_dataset,
)
from tests.reports.helpers import differences, run

EXPECTED = expected()


@pytest.fixture(params=ENGINE_BACKENDS)
def warehouse(request: pytest.FixtureRequest) -> Warehouse:
    """DuckDB, PostgreSQL and Spark: the same answers to the cent on each."""
    return request.getfixturevalue(f"{request.param}_warehouse")


@pytest.fixture(scope="module")
def loaded(request: pytest.FixtureRequest) -> dict[str, Scope]:
    """One load per backend for the whole module (the data set is read-only here)."""
    return {}


def _scope(warehouse: Warehouse, loaded: dict[str, Scope], *, with_rates: bool) -> Scope:
    key = f"{warehouse.name}-{with_rates}"
    if key not in loaded:
        import uuid

        loaded[key] = Scope(org_id=f"org_small_{uuid.uuid4().hex}", livemode=False)
        load(warehouse, loaded[key], small_dataset(with_rates=with_rates))
    return loaded[key]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_engine_reproduces_the_example(
    warehouse: Warehouse, loaded: dict[str, Scope], name: str
) -> None:
    url, want = EXPECTED[name]
    got = run(warehouse, _scope(warehouse, loaded, with_rates=True), url, base=base_currency())
    assert differences(got, want) == []


@pytest.mark.parametrize("name", ["monthly", "quarter-eur-fixfx"])
def test_the_org_rates_file_changes_nothing(
    warehouse: Warehouse, loaded: dict[str, Scope], name: str
) -> None:
    # fx_rates.csv repeats the bundled ECB numbers: with or without it, the same answers
    url, want = EXPECTED[name]
    got = run(warehouse, _scope(warehouse, loaded, with_rates=False), url, base=base_currency())
    assert differences(got, want) == []


def test_http_serves_the_example(api: ApiHarness) -> None:
    load(api.warehouse, Scope(api.org_id, False), small_dataset())
    for name in ("monthly", "currency-chart", "region-dach-jp"):
        url, want = EXPECTED[name]
        response = api.client.get(url, headers=api.headers("test"))
        assert response.status_code == 200, response.text
        assert differences(response.json(), want) == []
    # the seed's base path without /v1 serves the same report
    url, want = EXPECTED["weekly-gbp"]
    response = api.client.get(url.removeprefix("/v1"), headers=api.headers("test"))
    assert differences(response.json(), want) == []


def test_copy_is_byte_identical_to_the_shared_example() -> None:
    if not SHARED_SMALL.exists():
        # CI always has shared/ beside the clone: there a missing copy is a failure.
        require_service("the shared worked example", FileNotFoundError(str(SHARED_SMALL)))
    mine = sorted(p.relative_to(SMALL) for p in SMALL.rglob("*") if p.is_file())
    theirs = sorted(p.relative_to(SHARED_SMALL) for p in SHARED_SMALL.rglob("*") if p.is_file())
    assert mine == theirs
    for relative in mine:
        assert filecmp.cmp(SMALL / relative, SHARED_SMALL / Path(relative), shallow=False)
