"""The compiled SQL of a report restricted to members or given groups is cached per the
restriction's own SQL (``engine.report._key``): the same cohort asked again reuses it,
another cohort never gets a cached statement of the first, and a restriction holding an
in-memory table is not cached at all. On DuckDB and PostgreSQL."""

from __future__ import annotations

from datetime import date

import ibis
import pytest
from tests.conftest import POSTGRES
from tests.engine.state_rows import Cust, Sub, load

from cohortd.engine import compiled
from cohortd.engine.periods import Interval
from cohortd.engine.report import run_report
from cohortd.engine.retention import ReportQuery
from cohortd.warehouse import Warehouse, scoped
from cohortd.warehouse.tables import CUSTOMERS

AS_OF = date(2025, 3, 31)


@pytest.fixture(params=["duckdb", POSTGRES])
def warehouse(request: pytest.FixtureRequest) -> Warehouse:
    return request.getfixturevalue(f"{request.param}_warehouse")


def _members(warehouse: Warehouse, scope, ids: list[str]) -> ibis.Table:  # type: ignore[no-untyped-def]
    customers = scoped(warehouse, CUSTOMERS, scope)
    found = customers.filter(customers.id.isin(ids))
    return found.select(customer_id=found.id)


def _report(warehouse: Warehouse, scope, members: ibis.Table) -> list:  # type: ignore[no-untyped-def,type-arg]
    query = ReportQuery(as_of=AS_OF, interval=Interval.month, base_currency="USD", members=members)
    rows = run_report(warehouse, scope, query).envelope()["result"]["list"]
    return [(r["cohort_group"], r.get("initial_customers"), r["periods"]) for r in rows]


def test_a_restriction_is_cached_by_its_own_sql(warehouse: Warehouse, new_scope) -> None:  # type: ignore[no-untyped-def]
    """a pays 100.00 from January, b 50.00 from January to February, c 70.00 from
    February: members {a, b} make one January cohort of 2 (150.00, then 100.00 in
    March); {c} a February cohort of 1 (70.00 in February and March) and an empty
    March one."""
    scope = new_scope()
    load(
        warehouse,
        scope,
        [Cust("a"), Cust("b"), Cust("c")],
        [
            Sub("s1", "a", date(2025, 1, 5), None, 10_000),
            Sub("s2", "b", date(2025, 1, 9), date(2025, 2, 20), 5_000),
            Sub("s3", "c", date(2025, 2, 2), None, 7_000),
        ],
    )
    compiled.clear()
    try:
        first = _report(warehouse, scope, _members(warehouse, scope, ["a", "b"]))
        cached = len(compiled._sql)
        assert cached > 0  # the statements of a restricted report are cached
        assert first[0][:2] == ("2025-01-31", 2)
        assert [p["mrr_retained"] for p in first[0][2]] == [150.0, 100.0, 100.0]
        # the same cohort, a new expression: the same statements, the same answer
        assert _report(warehouse, scope, _members(warehouse, scope, ["a", "b"])) == first
        assert len(compiled._sql) == cached
        # another cohort: statements of its own
        other = _report(warehouse, scope, _members(warehouse, scope, ["c"]))
        assert len(compiled._sql) > cached
        assert [row[:2] for row in other[:-1]] == [("2025-02-28", 1), ("2025-03-31", 0)]
        assert [p["mrr_retained"] for p in other[0][2]] == [70.0, 70.0]
        # an in-memory restriction goes through Ibis, uncached, to the same answer
        before = len(compiled._sql)
        given = ibis.memtable({"customer_id": ["c"]})
        assert _report(warehouse, scope, given) == other
        assert len(compiled._sql) == before
    finally:
        compiled.clear()
