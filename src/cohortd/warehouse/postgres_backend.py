"""The PostgreSQL data plane: bulk writes through COPY, readers from a pool."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

import ibis
import pyarrow as pa
import sqlglot.expressions as sge

from cohortd.warehouse.backends import DEFAULT_READERS, Warehouse
from cohortd.warehouse.readers import Pool


class PostgresWarehouse(Warehouse):
    """PostgreSQL: bulk writes through COPY; readers from a pool of connections."""

    name = "postgres"

    def __init__(
        self,
        con: ibis.BaseBackend,
        url: str,
        connect: Callable[[], ibis.BaseBackend],
        readers: int = DEFAULT_READERS,
    ) -> None:
        super().__init__(con, url)
        self._pool: Pool[ibis.BaseBackend] = Pool(
            readers, connect, lambda backend: backend.disconnect()
        )

    def _open_reader(self) -> ibis.BaseBackend:
        return self._pool.take()

    def _begin_reader(self, backend: ibis.BaseBackend, seconds: float | None) -> None:
        raw = backend.con
        # a statement never outlives the deadline, even if the cancel is lost
        limit = max(1, int(seconds * 1000)) if seconds is not None else 0
        raw.execute(f"SET statement_timeout = {limit}")
        # one snapshot for every statement of the block (temp tables need a writable one)
        raw.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")

    def _cancel_reader(self, backend: ibis.BaseBackend) -> None:
        backend.con.cancel_safe(timeout=1.0)

    def _statement_timed_out(self, error: BaseException) -> bool:
        """``statement_timeout`` (57014, query_canceled) ended the statement: under load
        the server's limit can fire before the deadline's own cancel."""
        import psycopg

        seen: BaseException | None = error
        while seen is not None:
            if isinstance(seen, psycopg.errors.QueryCanceled):
                return True
            seen = seen.__cause__ or seen.__context__
        return False

    def _close_reader(self, backend: ibis.BaseBackend, *, broken: bool) -> None:
        raw = backend.con
        try:
            raw.execute("ROLLBACK")  # ends the snapshot and drops its temp tables
            raw.execute("SET statement_timeout = 0")
        except Exception:
            broken = True
        backend._memtables.clear()  # rolled back with it
        self._pool.give(backend, broken=broken or raw.closed)

    def run_statement(self, statement: Any) -> None:
        with self._writing() as main:
            main.raw_sql(statement).close()  # psycopg returns a cursor to release

    @contextmanager
    def analytic(self) -> Iterator[None]:
        """No nested loops: the report's statement joins CTEs and temp tables PostgreSQL
        cannot estimate (it guesses one row) and a nested loop over them took 16 s of
        18 s at 100,000 customers (2 s with hash and merge joins only). Set and reset on
        this thread's connection, so no other reader's query sees the setting."""
        with self._hold() as backend:
            raw = backend.con
            raw.execute("SET enable_nestloop = off")
            try:
                yield
            finally:
                with suppress(Exception):  # a cancelled reader's snapshot refuses it
                    raw.execute("RESET enable_nestloop")

    def serialize_writers(self, name: str) -> None:
        # EXCLUSIVE lets readers in and makes every writer (ROW EXCLUSIVE) wait; ``name``
        # is one of the module's table constants, never user input
        with self._writing() as main:
            main.raw_sql(f'LOCK TABLE "{name}" IN EXCLUSIVE MODE').close()

    def refresh_statistics(self, *tables: str) -> None:
        # Fresh rows without statistics make PostgreSQL choose nested loops (seconds, not ms).
        with self._writing():
            for table in tables:
                self.run_statement(sge.Analyze(this=sge.to_table(table, quoted=True)))

    def _execute_statement(self, statement: sge.Expression) -> None:
        with self.con.con.cursor() as cursor:
            cursor.execute(statement.sql(self.con.compiler.dialect))

    def insert_arrow(self, name: str, rows: pa.Table) -> None:
        with self._writing() as main:
            self._copy_on(main.con, name, rows)

    def insert_temp(self, name: str, rows: pa.Table) -> None:
        with self._hold() as backend:
            self._copy_on(backend.con, name, rows)

    @staticmethod
    def _copy_on(raw: Any, name: str, rows: pa.Table) -> None:
        columns = ", ".join(f'"{c}"' for c in rows.column_names)
        with (
            raw.cursor() as cursor,
            cursor.copy(f'COPY "{name}" ({columns}) FROM STDIN') as copy,
        ):
            for record in rows.to_pylist():
                copy.write_row([_pg_value(v) for v in record.values()])

    @contextmanager
    def transaction(self, scope: Any = None) -> Iterator[None]:
        with self._writing() as main, main.con.transaction():
            yield
            self._new_version(scope)

    def close(self) -> None:
        self._pool.close()
        super().close()


def _pg_value(value: Any) -> Any:
    if isinstance(value, list):
        return (
            "{"
            + ",".join('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in value)
            + "}"
        )
    return value
