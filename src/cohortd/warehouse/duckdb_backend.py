"""The DuckDB data plane (the embedded default): readers are cursors of the database."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa
import sqlglot as sg
import sqlglot.expressions as sge

from cohortd.warehouse.backends import (
    _IMPORT_MEMORY_LIMIT,
    Warehouse,
    keys_condition,
    scope_condition,
)
from cohortd.warehouse.tables import COMPRESSION, SCHEMAS


class DuckDBWarehouse(Warehouse):
    """The embedded default: one DuckDB file (or ``:memory:``). Each reader is a cursor:
    a connection of its own to the same database, with its own temp tables."""

    name = "duckdb"

    def __init__(self, con: ibis.BaseBackend, url: str) -> None:
        super().__init__(con, url)
        # The progress bar prints to stdout (breaking `--json`) and slows bulk inserts.
        con.con.execute("SET enable_progress_bar = false")
        # readers' cursors come from a connection that runs no statement (the main one
        # may be busy with a write for minutes)
        self._cursors = con.con.cursor()
        self._cursors_lock = threading.Lock()

    def _open_reader(self) -> ibis.BaseBackend:
        with self._cursors_lock:
            cursor = self._cursors.cursor()
        cursor.execute("SET enable_progress_bar = false")
        backend = ibis.duckdb.from_connection(cursor)
        # in-memory tables die with the cursor: no finalizer keeping it alive until exit
        backend._make_memtable_finalizer = lambda name: None
        return backend

    def _begin_reader(self, backend: ibis.BaseBackend, seconds: float | None) -> None:
        # the snapshot starts at the first statement that reads a table
        backend.con.execute("BEGIN TRANSACTION")

    def _cancel_reader(self, backend: ibis.BaseBackend) -> None:
        backend.con.interrupt()

    def _close_reader(self, backend: ibis.BaseBackend, *, broken: bool) -> None:
        # closing the cursor rolls its transaction back and drops its temp objects
        backend.con.close()

    @contextmanager
    def bounded_memory(self) -> Iterator[None]:
        """Cap DuckDB's memory during an import: staging tables spill to disk beyond it.

        The limit is per database, so queries running meanwhile share the cap."""
        raw = self._main.con
        with self._lock:
            raw.execute(f"SET memory_limit = '{_IMPORT_MEMORY_LIMIT}'")
            # Row order inside a table means nothing to cohortd; dropping it lets DuckDB
            # insert in parallel with less memory.
            raw.execute("SET preserve_insertion_order = false")
        try:
            yield
        finally:
            with self._lock:
                # Back to DuckDB's default (80% of RAM); cohortd sets no other limit.
                raw.execute("RESET memory_limit")
                raw.execute("RESET preserve_insertion_order")
                raw.execute("RESET disabled_compression_methods")  # if a failure left it

    @contextmanager
    def light_compression(self) -> Iterator[None]:
        """No FSST string compression for the writes inside: its analysis is about a
        quarter of writing the derived tables (ids and codes, which the dictionary
        compresses nearly as well: measured +5% size there; canonical names and emails
        would double, so it is not used for them)."""
        import duckdb

        with self._writing() as main:
            raw = main.con
            raw.execute("SET disabled_compression_methods = 'fsst'")
            try:
                yield
            except BaseException:
                with suppress(duckdb.Error):  # an aborted transaction refuses the RESET
                    raw.execute("RESET disabled_compression_methods")
                raise
            raw.execute("RESET disabled_compression_methods")

    def insert_arrow(self, name: str, rows: pa.Table) -> None:
        with self._writing() as main:
            self._insert_arrow_on(main.con, name, rows)

    def insert_temp(self, name: str, rows: pa.Table) -> None:
        with self._hold() as backend:
            self._insert_arrow_on(backend.con, name, rows)

    @staticmethod
    def _insert_arrow_on(raw: Any, name: str, rows: pa.Table) -> None:
        view = f"_cohortd_incoming_{uuid.uuid4().hex}"
        raw.register(view, rows)
        try:
            columns = ", ".join(f'"{c}"' for c in rows.column_names)
            raw.execute(f'INSERT INTO "{name}" ({columns}) SELECT {columns} FROM "{view}"')
        finally:
            raw.unregister(view)

    # -- the small reads and deletes of live changes -----------------------------------
    # The base class puts the keys into the statement: an IN list for one column, an OR
    # of ANDs for several. On DuckDB (measured at 100,000 customers, 1.5.6):
    # - an IN list of several values is a join, not a filter of the scan, so every
    #   column of every row is read; the rows' ``rowid`` found first, then only those
    #   rows fetched, takes about half as long for eight customers (one value is a
    #   filter of the scan already);
    # - an OR of ANDs is evaluated row by row over the whole table (``cohort_deltas``'
    #   6-column keys: about 60 ms for 30 keys); the keys as an Arrow view joined to the
    #   table (a hash semi-join on null-safe equality) take about 13 ms.

    def rows_matching(
        self, name: str, scope: Any, key: tuple[str, ...], rows: Sequence[dict[str, Any]]
    ) -> pa.Table:
        if len(rows) < 2:
            return super().rows_matching(name, scope, key, rows)
        if len(key) == 1:
            where = sg.and_(scope_condition(scope), keys_condition(key, rows), copy=False)
            table = sge.table_(name, quoted=True)
            found = sg.select(sg.column("rowid")).from_(table).where(where, copy=False)
            rowid = sg.column("rowid").isin(query=found, copy=False)
            return self._select_rows(self._select(name).where(rowid, copy=False), name)
        schema = SCHEMAS[name].to_pyarrow()
        columns = ", ".join(f'"stored"."{f.name}"' for f in schema)
        with self._hold() as backend, _keys_view(backend.con, schema, key, rows) as view:
            found = backend.con.execute(
                f'SELECT {columns} FROM "{name}" AS "stored" SEMI JOIN "{view}" AS "wanted" '
                f"ON {_null_safe_equal(key)} WHERE {_scope_sql(scope)}"
            ).to_arrow_table()
        return found.cast(schema) if found.num_rows else schema.empty_table()

    def delete_keys(
        self, name: str, scope: Any, key: tuple[str, ...], rows: Sequence[dict[str, Any]]
    ) -> None:
        if len(key) == 1 or len(rows) < 2:
            super().delete_keys(name, scope, key, rows)
            return
        schema = SCHEMAS[name].to_pyarrow()
        with self._lock, _keys_view(self.con.con, schema, key, rows) as view:
            self.con.con.execute(
                f'DELETE FROM "{name}" AS "stored" USING "{view}" AS "wanted" '
                f"WHERE {_scope_sql(scope)} AND {_null_safe_equal(key)}"
            )

    def put_temp_table(self, name: str, rows: pa.Table) -> None:
        """Straight from Arrow (Ibis's path makes a table, copies it and drops it).

        The Arrow view gets a fresh name each time: a query deadline interrupts the
        connection repeatedly, and an interrupted ``unregister`` leaves its view behind
        (a fixed name then failed every later report with "already exists")."""
        with self._hold() as backend:
            raw = backend.con
            view = f"_cohortd_arrow_{uuid.uuid4().hex}"
            raw.register(view, rows)
            try:
                raw.execute(f'CREATE TEMP TABLE "{name}" AS SELECT * FROM "{view}"')
            finally:
                raw.unregister(view)

    def temp_table(self, name: str) -> ir.Table:
        with self._hold() as backend:
            return backend.table(name, database=("temp", "main"))

    def _create_table(self, name: str, schema: ibis.Schema) -> None:
        """With the storage hints of ``tables.COMPRESSION`` (names are the module's
        constants, never user input)."""
        from ibis.backends.sql.datatypes import DuckDBType

        hints = COMPRESSION.get(name, {})
        columns = []
        for column, dtype in schema.items():
            definition = f'"{column}" {DuckDBType.to_string(dtype)}'
            if column in hints:
                definition += f" USING COMPRESSION {hints[column]}"
            if not dtype.nullable:
                definition += " NOT NULL"
            columns.append(definition)
        with self._writing() as main:
            main.con.execute(f'CREATE TABLE "{name}" ({", ".join(columns)})')

    # Writing Parquet from Arrow costs about half of appending the same rows to a temp
    # table (which also holds them in the import's memory cap), and DuckDB scans the
    # files in parallel for the checks and the merge (docs/import.md).
    stages_files = True

    def files_view(self, name: str, paths: Sequence[Path]) -> ir.Table:
        with self._hold() as backend:
            return backend.read_parquet([str(p) for p in paths], table_name=name)

    def drop_files_view(self, name: str) -> None:
        with self._hold():
            self._execute_statement(
                sge.Drop(kind="VIEW", this=sge.table_(name, quoted=True), exists=True)
            )

    def fetch_rows(self, sql: str) -> list[dict[str, Any]]:
        with self._hold() as backend:  # a cursor of the connection: read it, never close it
            cursor = backend.con.execute(sql)
            names = [column[0] for column in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def fetch_arrow(self, sql: str) -> pa.Table:
        with self._hold() as backend:
            result: pa.Table = backend.con.execute(sql).to_arrow_table()
            return result

    def _execute_statement(self, statement: sge.Expression) -> None:
        self.con.con.execute(statement.sql(self.con.compiler.dialect))

    @contextmanager
    def transaction(self, scope: Any = None) -> Iterator[None]:
        with self._writing() as main:
            raw = main.con
            raw.execute("BEGIN TRANSACTION")
            try:
                yield
                self._new_version(scope)
            except BaseException:
                raw.execute("ROLLBACK")
                raise
            raw.execute("COMMIT")

    def close(self) -> None:
        with suppress(Exception):
            self._cursors.close()
        super().close()


@contextmanager
def _keys_view(
    raw: Any, schema: pa.Schema, key: tuple[str, ...], rows: Sequence[dict[str, Any]]
) -> Iterator[str]:
    """``rows``' ``key`` values as an Arrow view on the connection ``raw``, typed as the
    table's columns (a fresh name each time, as ``put_temp_table``)."""
    typed = pa.schema([schema.field(k).with_nullable(True) for k in key])
    keys = pa.table({k: [row[k] for row in rows] for k in key}, schema=typed)
    view = f"_cohortd_keys_{uuid.uuid4().hex}"
    raw.register(view, keys)
    try:
        yield view
    finally:
        raw.unregister(view)


def _null_safe_equal(key: tuple[str, ...]) -> str:
    """The stored row's ``key`` columns equal the wanted row's (a null matches a null)."""
    return " AND ".join(f'"stored"."{k}" IS NOT DISTINCT FROM "wanted"."{k}"' for k in key)


def _scope_sql(scope: Any) -> str:
    """The stored row belongs to ``scope`` (values quoted by sqlglot)."""
    condition = scope_condition(scope)
    for column in condition.find_all(sge.Column):
        column.set("table", sg.to_identifier("stored", quoted=True))
    return condition.sql("duckdb")
