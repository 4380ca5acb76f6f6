"""A read that blocks until the test lets it go, on either backend (no timing involved).

DuckDB: a Python function registered on the reader's own cursor waits for an event.
PostgreSQL: the read waits for an advisory lock the test holds on another connection.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import psycopg

from cohortd.warehouse import Warehouse

WAIT = 60.0  # seconds: a safety net so a broken build fails instead of hanging
_LOCK_KEY = 770_077


@dataclass
class BlockingRead:
    """``run()`` (in a thread, inside a reading block) blocks until ``release()``."""

    warehouse: Warehouse
    started: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)
    finished: threading.Event = field(default_factory=threading.Event)
    holder: psycopg.Connection | None = None

    def run(self) -> None:
        """Block on this thread's reader connection, then return."""
        try:
            if self.warehouse.name == "duckdb":
                raw = self.warehouse.con.con

                def wait(x: int) -> int:
                    self.started.set()
                    self.released.wait(WAIT)
                    return x

                raw.create_function("cohortd_test_wait", wait, ["BIGINT"], "BIGINT")
                self.warehouse.fetch_rows("SELECT cohortd_test_wait(1) AS x")
            else:
                self.started.set()  # the lock below is held by the test: this waits
                self.warehouse.fetch_rows(f"SELECT pg_advisory_lock_shared({_LOCK_KEY}) AS x")
                self.warehouse.fetch_rows(f"SELECT pg_advisory_unlock_shared({_LOCK_KEY}) AS x")
        finally:
            self.finished.set()

    def release(self) -> None:
        self.released.set()
        if self.holder is not None:
            self.holder.execute("SELECT pg_advisory_unlock_all()")


@contextmanager
def blocking_read(warehouse: Warehouse) -> Iterator[BlockingRead]:
    """A ``BlockingRead`` for ``warehouse``; released at the end whatever happens."""
    block = BlockingRead(warehouse)
    if warehouse.name == "postgres":
        block.holder = psycopg.connect(warehouse.url, autocommit=True)
        block.holder.execute(f"SELECT pg_advisory_lock({_LOCK_KEY})")
    try:
        yield block
    finally:
        block.release()
        if block.holder is not None:
            block.holder.close()
