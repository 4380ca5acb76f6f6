"""The Spark warehouse through Spark Connect (``sc://HOST:PORT?path=DIR``), against a
real server started for the test run (``tests.conftest.spark_connect_server``): the
worked example of SPEC §2 to the cent, an import's atomicity, a reading block stopped at
its deadline, and the URL's ``database``."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from cohortd.errors import QueryTimeout
from cohortd.warehouse import Scope, Warehouse, connect
from tests.concurrency.blocking import WAIT
from tests.fixtures.example_small import base_currency, expected, load, small_dataset
from tests.imports.helpers import GOOD_CUSTOMERS, GOOD_SUBSCRIPTIONS, run, stored
from tests.reports.helpers import differences
from tests.reports.helpers import run as run_report

pytestmark = pytest.mark.spark

EXPECTED = expected()
# minutes of work on two cores: it is stopped by the deadline, never finished
HEAVY = "SELECT sum(a.id * b.id) AS s FROM range(200000) a CROSS JOIN range(200000) b"


@pytest.fixture(scope="module")
def example_scope(spark_connect_warehouse: Warehouse) -> Scope:
    """The worked example, loaded once for the module (read-only here)."""
    scope = Scope(f"org_small_{uuid.uuid4().hex}", livemode=False)
    load(spark_connect_warehouse, scope, small_dataset())
    return scope


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_connect_reproduces_the_example(
    spark_connect_warehouse: Warehouse, example_scope: Scope, name: str
) -> None:
    url, want = EXPECTED[name]
    got = run_report(spark_connect_warehouse, example_scope, url, base=base_currency())
    assert differences(got, want) == []


def test_a_failed_import_leaves_the_previous_tables(
    spark_connect_warehouse: Warehouse, new_scope, tmp_path: Path
) -> None:
    warehouse = spark_connect_warehouse
    scope = new_scope()
    assert run(warehouse, scope, tmp_path, customers=("c.csv", GOOD_CUSTOMERS)).succeeded
    before = stored(warehouse, scope, "customers")
    state = (warehouse.root / "cohortd_state.json").read_text()  # type: ignore[attr-defined]

    def fail_after_the_subscriptions(step: str) -> None:
        if step == "subscriptions:inserted":  # the customers were replaced before it
            raise RuntimeError(step)

    with pytest.raises(RuntimeError, match="subscriptions:inserted"):
        run(
            warehouse,
            scope,
            tmp_path,
            between_steps=fail_after_the_subscriptions,
            customers=("c.csv", GOOD_CUSTOMERS.replace("Acme", "Changed")),
            subscriptions=("s.csv", GOOD_SUBSCRIPTIONS),
        )
    assert (warehouse.root / "cohortd_state.json").read_text() == state  # type: ignore[attr-defined]
    assert stored(warehouse, scope, "customers") == before
    with warehouse.reading():
        assert stored(warehouse, scope, "customers") == before
        assert stored(warehouse, scope, "subscriptions") == []


def test_the_deadline_interrupts_the_readers_operations(
    spark_connect_warehouse: Warehouse,
) -> None:
    warehouse = spark_connect_warehouse
    fired_before = warehouse.deadlines_fired
    started = time.monotonic()
    with pytest.raises(QueryTimeout), warehouse.reading(0.5, QueryTimeout("past it")):
        warehouse.fetch_rows(HEAVY)
    assert time.monotonic() - started < WAIT
    assert warehouse.deadlines_fired == fired_before + 1
    assert warehouse.readers_in_flight == 0
    # the next reader and the main session answer (the interrupted one was released)
    with warehouse.reading():
        assert warehouse.fetch_rows("SELECT 1 AS x") == [{"x": 1}]
    assert warehouse.fetch_rows("SELECT 2 AS x") == [{"x": 2}]


def test_the_urls_database_is_every_sessions_current_one(
    spark_connect_warehouse: Warehouse,
) -> None:
    name = f"cohortd_{uuid.uuid4().hex[:8]}"
    spark_connect_warehouse.fetch_rows(f"CREATE DATABASE {name}")
    url = spark_connect_warehouse.url.replace("?path=", "?database=" + name + "&path=")
    warehouse = connect(url)  # the same lake: its tables exist already
    try:
        assert warehouse.fetch_rows("SELECT current_database() AS db") == [{"db": name}]
        with warehouse.reading():
            assert warehouse.fetch_rows("SELECT current_database() AS db") == [{"db": name}]
        # the other warehouse on the same server keeps its own session's database
        assert spark_connect_warehouse.fetch_rows("SELECT current_database() AS db") == [
            {"db": "default"}
        ]
    finally:
        warehouse.close()


def test_a_closed_session_leaves_the_others_release_pool_running(
    spark_connect_warehouse: Warehouse,
) -> None:
    """PySpark's Connect clients share one pool for their ReleaseExecute calls, and any
    client's close shut it down, even while another session's query was submitting to
    it (a stopped reader's session garbage-collected mid-query did that)."""
    from pyspark.sql.connect.client.reattach import ExecutePlanResponseReattachableIterator

    pool = ExecutePlanResponseReattachableIterator._get_or_create_release_thread_pool()
    reader = connect(spark_connect_warehouse.url)
    reader.fetch_rows("SELECT 1 AS one")
    reader.close()  # stops its Connect session: the client's close
    ExecutePlanResponseReattachableIterator.shutdown()  # what a collected session's __del__ does
    assert pool.submit(lambda: 2).result(timeout=10) == 2
    assert spark_connect_warehouse.fetch_rows("SELECT 1 AS one") == [{"one": 1}]
