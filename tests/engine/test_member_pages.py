"""Members pages walk the customers in id order and stop when the page is full: they must
page exactly as the whole membership paged by ``paginate_table`` does (ids, ``has_more``,
``next_cursor``, forwards and backwards), on DuckDB and PostgreSQL; on Spark, one
definition's pages and the walk past chunks without members.

Population: 40 customers ``m00``..``m39``; customer n pays from day n (tenure on D is
40 - n), every third one churned before D (cancelled), every fifth is tagged vip, and
every seventh has a given status ``active`` (it applies only when D is today).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from tests.conftest import on_spark_too, per_backend
from tests.engine.state_rows import Cust, Sub, load

from cohortd.api.paging import PageParams, paginate_table
from cohortd.engine.membership import CohortDefinition, first_member_ids, members
from cohortd.subscribers.service import page_of_members
from cohortd.warehouse import Scope, Warehouse, scoped
from cohortd.warehouse.tables import CUSTOMERS

DAY0 = date(2025, 1, 1)
D = DAY0 + timedelta(days=40)

DEFINITIONS = {
    "active": CohortDefinition(status=("active",)),
    "active, tenure 10..30": CohortDefinition(
        status=("active",), tenure_days_min=10, tenure_days_max=30
    ),
    "cancelled vip": CohortDefinition(status=("cancelled",), tags_include=("vip",)),
    "everyone": CohortDefinition(),
    "nobody": CohortDefinition(countries=("ZZ",)),
}


@pytest.fixture(scope="module")
def loaded() -> dict[str, Scope]:
    """The population's scope on each backend: loaded once, read by every test."""
    return {}


@pytest.fixture
def scope(warehouse: Warehouse, new_scope, loaded: dict[str, Scope]) -> Scope:
    if warehouse.name in loaded:
        return loaded[warehouse.name]
    scope = loaded[warehouse.name] = new_scope()
    customers, rows = [], []
    for n in range(40):
        cid = f"m{n:02d}"
        customers.append(
            Cust(
                cid,
                datetime(2024, 1, 1),
                tags=("vip",) if n % 5 == 0 else (),
                status="active" if n % 7 == 0 else None,
            )
        )
        end = DAY0 + timedelta(days=n + 1) if n % 3 == 0 else None
        rows.append(Sub(f"s{n:02d}", cid, DAY0 + timedelta(days=n), end, 100 + n))
    load(warehouse, scope, customers, rows)
    return scope


def _whole(
    warehouse: Warehouse, scope: Scope, definition: CohortDefinition, page: PageParams, today: date
) -> tuple[list[str], bool, str | None]:
    """The page the whole membership gives, paged by ``paginate_table``."""
    universe = members(warehouse, scope, definition, D, today=today)
    customers = scoped(warehouse, CUSTOMERS, scope)
    found = paginate_table(
        warehouse, customers.semi_join(universe, customers.id == universe.customer_id), page
    )
    return [row["id"] for row in found.items], found.has_more, found.next_cursor


TODAYS = {"as_of_today": D, "past_day": D + timedelta(days=1)}
CASES = [(today, name) for today in TODAYS for name in DEFINITIONS]


# Spark: one case (each pages forwards and backwards, about 30 s there)
@pytest.mark.parametrize(
    ("warehouse", "case"),
    per_backend(
        {"duckdb": CASES, "postgres": CASES, "spark": [("past_day", "everyone")]},
        name=lambda case: "-".join(case),
    ),
    indirect=["warehouse"],
)
def test_pages_match_the_whole_membership(
    warehouse: Warehouse, scope: Scope, case: tuple[str, str]
) -> None:
    today, definition = TODAYS[case[0]], DEFINITIONS[case[1]]
    every = _whole(warehouse, scope, definition, PageParams(limit=100), today)[0]
    cursors = [None, *every[:3], "m15", "m99"]
    pages = [PageParams(limit=3, starting_after=c) for c in cursors]
    pages += [PageParams(limit=3, ending_before=c) for c in cursors if c is not None]
    for page in pages:
        got = page_of_members(warehouse, scope, definition, page, as_of=D, today=today)
        expected = _whole(warehouse, scope, definition, page, today)
        assert ([s.id for s in got.items], got.has_more, got.next_cursor) == expected, page


@on_spark_too
def test_the_walk_goes_past_chunks_without_members(warehouse: Warehouse, scope: Scope) -> None:
    # cancelled vip (n % 15 == 0): m15 and m30; m00's given "active" applies (D is today).
    # Chunks of 1, 2 or 5 customers mostly hold no member.
    definition = DEFINITIONS["cancelled vip"]
    expected = _whole(warehouse, scope, definition, PageParams(limit=100), D)[0]
    assert expected == ["m15", "m30"]
    for chunk in (1, 2, 5, None):
        found = first_member_ids(warehouse, scope, definition, D, today=D, limit=10, chunk=chunk)
        assert found == expected
        after = first_member_ids(
            warehouse, scope, definition, D, today=D, limit=1, after=expected[0], chunk=chunk
        )
        assert after == expected[1:2]
