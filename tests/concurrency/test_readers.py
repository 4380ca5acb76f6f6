"""Readers of the warehouse: each reading block has its own connection, never waits for
another reader nor for a write, sees one committed state, and stops at its deadline.
One body per test on DuckDB and PostgreSQL."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime

import psycopg
import pytest

from cohortd.errors import QueryTimeout
from cohortd.warehouse import Scope, Warehouse, scoped
from cohortd.warehouse.tables import CUSTOMERS
from tests.concurrency.blocking import WAIT, blocking_read
from tests.fixtures.example_small import _arrow

# long enough that it is cancelled, never finished, on either backend
HEAVY = {
    "duckdb": "SELECT sum(a.range * b.range) AS s FROM range(200000) a, range(200000) b",
    "postgres": "SELECT count(*) AS s FROM generate_series(1, 200000) a, "
    "generate_series(1, 200000) b",
}


def _customers(scope: Scope, ids: list[str]) -> object:
    now = datetime(2024, 1, 1, tzinfo=UTC)
    rows = [
        {"org_id": scope.org_id, "livemode": scope.livemode, "id": i, "created_at": now, "tags": []}
        for i in ids
    ]
    return _arrow(CUSTOMERS, rows)


def _count(warehouse: Warehouse, scope: Scope) -> int:
    return int(warehouse.execute(scoped(warehouse, CUSTOMERS, scope).count()))


def _new_scope() -> Scope:
    return Scope(f"org_{uuid.uuid4().hex[:12]}", False)


def test_a_blocked_read_does_not_hold_up_another(warehouse: Warehouse) -> None:
    with blocking_read(warehouse) as block:

        def slow() -> None:
            with warehouse.reading():
                block.run()

        thread = threading.Thread(target=slow)
        thread.start()
        assert block.started.wait(WAIT)
        # the first read is still running on its own connection; a second reader answers
        with warehouse.reading():
            assert warehouse.fetch_rows("SELECT 41 + 1 AS x") == [{"x": 42}]
        assert warehouse.readers_in_flight == 1  # the blocked one, still there
        assert not block.finished.is_set()
        block.release()
        thread.join(WAIT)
        assert block.finished.is_set()
    assert warehouse.readers_in_flight == 0


def test_readers_see_the_old_or_the_new_state_never_half(warehouse: Warehouse) -> None:
    """A write of two statements in one transaction, paused between them: a reader sees
    none of it, before and after the commit (its snapshot), a new reader sees all."""
    scope = _new_scope()
    halfway, go_on, done = threading.Event(), threading.Event(), threading.Event()

    def write() -> None:
        with warehouse.transaction(scope):
            warehouse.insert_arrow(CUSTOMERS, _customers(scope, ["c1"]))
            halfway.set()
            go_on.wait(WAIT)
            warehouse.insert_arrow(CUSTOMERS, _customers(scope, ["c2", "c3"]))
        done.set()

    with warehouse.reading():
        version_before = warehouse.data_version(scope)
        assert _count(warehouse, scope) == 0  # this reader's snapshot starts here
        writer = threading.Thread(target=write)
        writer.start()
        assert halfway.wait(WAIT)
        with warehouse.reading():  # joins the enclosing reader: same snapshot
            assert _count(warehouse, scope) == 0
        go_on.set()
        assert done.wait(WAIT)
        # committed now; this reader keeps the state it started with
        assert _count(warehouse, scope) == 0
        assert warehouse.data_version(scope) == version_before
    writer.join(WAIT)
    with warehouse.reading():
        assert _count(warehouse, scope) == 3
        assert warehouse.data_version(scope) != version_before


def test_a_reader_during_an_open_write_is_not_held_up(warehouse: Warehouse) -> None:
    """A write transaction holds the main connection (and the lock); a read meanwhile
    answers from the last committed state."""
    scope = _new_scope()
    with warehouse.transaction(scope):
        warehouse.insert_arrow(CUSTOMERS, _customers(scope, ["a"]))
    halfway, go_on = threading.Event(), threading.Event()

    def write() -> None:
        with warehouse.transaction(scope):
            warehouse.insert_arrow(CUSTOMERS, _customers(scope, ["b"]))
            halfway.set()
            go_on.wait(WAIT)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        assert halfway.wait(WAIT)
        seen: list[int] = []
        reader = threading.Thread(target=lambda: seen.append(_read_count(warehouse, scope)))
        reader.start()
        reader.join(WAIT)
        assert seen == [1]  # answered while the write is still open
    finally:
        go_on.set()
        writer.join(WAIT)
    assert _read_count(warehouse, scope) == 2


def _read_count(warehouse: Warehouse, scope: Scope) -> int:
    with warehouse.reading():
        return _count(warehouse, scope)


def _heavy_read_times_out(warehouse: Warehouse) -> None:
    """A minutes-long statement under a 0.3 s deadline: the caller gets the timeout, soon
    (the statement was stopped, not waited for), counted once, the reader given back."""
    fired_before = warehouse.deadlines_fired
    started = time.monotonic()
    with pytest.raises(QueryTimeout), warehouse.reading(0.3, QueryTimeout("past it")):
        warehouse.fetch_rows(HEAVY[warehouse.name])
    assert time.monotonic() - started < WAIT
    assert warehouse.deadlines_fired == fired_before + 1
    assert warehouse.readers_in_flight == 0


def test_the_deadline_cancels_the_readers_statement(warehouse: Warehouse) -> None:
    _heavy_read_times_out(warehouse)
    if warehouse.name == "postgres":
        with psycopg.connect(warehouse.url, autocommit=True) as admin:
            running = admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND state = 'active' AND query LIKE '%generate_series%' "
                "AND pid <> pg_backend_pid()"
            ).fetchone()
        assert running == (0,)
    # the next reader (and the main connection) answer
    with warehouse.reading():
        assert warehouse.fetch_rows("SELECT 1 AS x") == [{"x": 1}]
    assert warehouse.fetch_rows("SELECT 2 AS x") == [{"x": 2}]


@pytest.mark.postgres
def test_the_databases_own_limit_met_first_is_the_same_deadline(
    postgres_warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under load the deadline's watcher thread can wake late; PostgreSQL's
    ``statement_timeout`` (set with the deadline) then ends the statement first. That is
    the same deadline: the caller gets its timeout, not the driver's error."""
    from cohortd.warehouse import backends

    class LateWatcher(backends.Deadline):
        def __init__(self, seconds: float, cancel: object) -> None:
            super().__init__(seconds * 20, cancel)  # type: ignore[arg-type]

    monkeypatch.setattr(backends, "Deadline", LateWatcher)
    _heavy_read_times_out(postgres_warehouse)  # DuckDB sets no limit of its own


def test_temp_tables_are_the_readers_own(warehouse: Warehouse) -> None:
    """Two readers make a temp table of the same name (the report's factor tables are
    named by the query): each sees its own rows."""
    import pyarrow as pa

    first_made, second_done = threading.Event(), threading.Event()
    seen: dict[str, list[int]] = {}

    def first() -> None:
        with warehouse.reading():
            warehouse.put_temp_table("_factors_same", pa.table({"a": [1]}))
            first_made.set()
            second_done.wait(WAIT)
            seen["first"] = [r["a"] for r in warehouse.fetch_rows('SELECT a FROM "_factors_same"')]

    thread = threading.Thread(target=first)
    thread.start()
    assert first_made.wait(WAIT)
    with warehouse.reading():
        warehouse.put_temp_table("_factors_same", pa.table({"a": [2, 3]}))
        seen["second"] = [r["a"] for r in warehouse.fetch_rows('SELECT a FROM "_factors_same"')]
    second_done.set()
    thread.join(WAIT)
    assert seen == {"first": [1], "second": [2, 3]}
