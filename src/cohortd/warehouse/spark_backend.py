"""The Apache Spark data plane: Ibis's PySpark backend over a lake of Parquet files.

Spark has no transactions, MERGE, UPDATE, DELETE or temporary tables on plain Parquet,
so this class keeps them itself. Each table is a list of Parquet parts (directories or
files) under the lake's folder, registered in every Spark session as a temporary view
of exactly those files. A write never changes a part: an insert adds one, a delete or
update writes the table's kept rows as a new part that replaces the others. The parts
of every table are named by one small state file, replaced atomically (``os.replace``)
when a write commits: a failed write leaves the previous tables readable, and a reader
sees one committed state for its whole block (its views name that state's files).

Decimal arithmetic: Spark cuts the scale of a decimal product or quotient to 6 places
when its exact type would not fit in 38 digits (``allowPrecisionLoss``). The engine's
money and rates stay well inside 38 digits, so the session keeps exact scales instead
(``spark.sql.decimalOperations.allowPrecisionLoss=false``), and ANSI mode stays on: an
overflow or a division by zero is an error, as on PostgreSQL, never a silent null.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.parquet as pq
import sqlglot as sg
import sqlglot.expressions as sge

from cohortd.warehouse.backends import (
    _META,
    Warehouse,
    ecb_reference_rates,
    keys_condition,
    scope_condition,
)
from cohortd.warehouse.tables import DATA_VERSIONS, FX_ECB, GLOBAL_ORG, SCHEMA_VERSION, SCHEMAS

SETTING = "COHORTD_WAREHOUSE_URL"
_STATE = "cohortd_state.json"
_LOCK = "cohortd.lock"
_RETIRED_FOR = 15 * 60.0  # seconds a replaced part stays on disk for readers still on it
_COMPACT_AFTER = 24  # parts of one table before its next write rewrites it as one
_IDLE_READERS = 4
_META_SCHEMA = ibis.schema({"schema_version": "int64"})
# local mode: the machine's cores, a few shuffle partitions (tables of one organization
# are small next to a cluster's), no web UI, no console progress bar
LOCAL_CONF: dict[str, str] = {
    "spark.sql.shuffle.partitions": "8",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.decimalOperations.allowPrecisionLoss": "false",
    "spark.sql.parquet.inferTimestampNTZ.enabled": "true",
}
# every session, local or on a Connect server whose cluster has confs of its own
SESSION_CONF: dict[str, str] = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.decimalOperations.allowPrecisionLoss": "false",
    "spark.sql.ansi.enabled": "true",
    "spark.sql.parquet.inferTimestampNTZ.enabled": "true",
}


def keep_release_pool() -> None:
    """Stop one Spark Connect session's close from shutting down every session's pool.

    PySpark's Connect client sends its ``ReleaseExecute`` calls through one thread pool
    shared by every session of the process, and each client's ``close()`` (``stop()``,
    and ``SparkSession.__del__`` when a stopped session is garbage-collected, in
    whichever thread that happens) shuts that pool down. A reader whose query was
    finishing then fails with "cannot schedule new futures after shutdown": the garbage
    collector can run that ``__del__`` inside the very ``submit`` of another session,
    under the pool's re-entrant lock. cohortd opens and stops a Connect session per idle
    reader, so the pool is left running for the process instead: its idle threads cost
    nothing and end with the process.
    """
    from pyspark.sql.connect.client.reattach import ExecutePlanResponseReattachableIterator

    ExecutePlanResponseReattachableIterator.shutdown = classmethod(  # type: ignore[method-assign,assignment]
        lambda cls: None
    )


class SparkUnavailable(RuntimeError):
    """The Spark warehouse named by ``COHORTD_WAREHOUSE_URL`` cannot be used."""


def schema_of(name: str) -> ibis.Schema:
    return _META_SCHEMA if name == _META else SCHEMAS[name]


def spark_type(dtype: dt.DataType) -> Any:
    """The Spark type a column of ``dtype`` is stored as (a timestamp without a zone is
    ``TIMESTAMP_NTZ``, as Parquet files written from Arrow say)."""
    from ibis.backends.pyspark.datatypes import PySparkType
    from pyspark.sql import types as pt

    if dtype.is_timestamp() and dtype.timezone is None:
        return pt.TimestampNTZType()
    if dtype.is_array():
        return pt.ArrayType(spark_type(dtype.value_type), True)
    return PySparkType.from_ibis(dtype)


def spark_schema(schema: ibis.Schema) -> Any:
    from pyspark.sql import types as pt

    return pt.StructType([pt.StructField(n, spark_type(t), True) for n, t in schema.items()])


def arrow_schema(schema: ibis.Schema) -> pa.Schema:
    """``schema`` in Arrow with every field nullable (Spark reads every column so)."""
    return pa.schema([f.with_nullable(True) for f in schema.to_pyarrow()])


@dataclass
class _Session:
    """One Spark session's view of the lake: its Ibis backend, the state its table views
    name, and its temporary tables (views over parts it owns, or files it was given)."""

    backend: ibis.BaseBackend
    serial: str
    temps: dict[str, list[str]] = field(default_factory=dict)
    owned: set[str] = field(default_factory=set)
    tag: str = ""


class SparkWarehouse(Warehouse):
    """Spark, local or through Spark Connect, over Parquet parts named by a state file."""

    name = "spark"
    ordered_collect = False  # Ibis's PySpark compiler refuses an aggregate's order_by
    # the files an import stages are linked into the lake, which Spark reads too
    stages_files = True

    def __init__(
        self,
        session: Any,
        url: str,
        *,
        root: Path,
        owns_session: bool,
        remote: str | None = None,
        database: str | None = None,
        conf: dict[str, str] | None = None,
    ) -> None:
        """``session``: a local session, or with ``remote`` (``sc://HOST:PORT``) a Spark
        Connect one; readers get sessions of their own, set up as this one."""
        self._remote = remote
        if remote is not None:
            keep_release_pool()
        self._database = database
        self._conf = {**SESSION_CONF, **(conf or {})}
        self._configure(session)
        super().__init__(ibis.pyspark.connect(session), url)
        self._session = session
        self._owns_session = owns_session
        self.root = root
        self._committed: dict[str, list[str]] = {}
        self._serial = ""
        self._state_stamp: tuple[int, int] | None = None
        self._pending: dict[str, list[str]] | None = None
        self._written: list[str] = []  # parts made by the open write, removed if it fails
        self._retired: list[tuple[str, float]] = []
        self._sessions: dict[int, _Session] = {}
        self._idle: list[_Session] = []
        self._idle_lock = threading.Lock()
        self._sessions[id(self._main)] = _Session(self._main, "")
        self._load_state()
        self._register_tables(self._sessions[id(self._main)], self._committed)

    # -- the state file ----------------------------------------------------------------
    def _load_state(self) -> bool:
        """Read the state file if another write replaced it; True when it changed."""
        path = self.root / _STATE
        try:
            stat = path.stat()
        except FileNotFoundError:
            return False
        stamp = (stat.st_ino, stat.st_mtime_ns)
        if stamp == self._state_stamp:
            return False
        state = json.loads(path.read_text())
        self._committed = {k: list(v) for k, v in state["tables"].items()}
        self._retired = [(p, float(t)) for p, t in state.get("retired", [])]
        self._serial = state["serial"]
        self._state_stamp = stamp
        return True

    def _save_state(self, tables: dict[str, list[str]]) -> None:
        superseded = {p for parts in self._committed.values() for p in parts} - {
            p for parts in tables.values() for p in parts
        }
        now = time.time()
        retired = [*self._retired, *((p, now) for p in sorted(superseded))]
        keep = [(p, t) for p, t in retired if now - t < _RETIRED_FOR]
        serial = uuid.uuid4().hex
        state = {"serial": serial, "tables": tables, "retired": keep}
        temporary = self.root / f".{_STATE}.{serial}"
        temporary.write_text(json.dumps(state))
        os.replace(temporary, self.root / _STATE)
        for part, _ in retired[: len(retired) - len(keep)]:
            self._remove(part)
        self._state_stamp = None
        self._load_state()

    @contextmanager
    def _file_lock(self) -> Iterator[None]:
        """Writes of every process on this lake, one at a time."""
        with open(self.root / _LOCK, "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # -- parts and views ---------------------------------------------------------------
    def _path(self, part: str) -> str:
        return str(self.root / part)

    def _remove(self, part: str) -> None:
        path = self.root / part
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            with suppress(FileNotFoundError):
                path.unlink()

    def _new_part(self, folder: str) -> str:
        return f"{folder}/{uuid.uuid4().hex}"

    def _spark(self, backend: ibis.BaseBackend) -> Any:
        return backend._session

    def _configure(self, spark: Any) -> None:
        """What cohortd needs of every session it uses (the cluster's own defaults may
        differ): ``SESSION_CONF``, the URL's settings and its ``database``."""
        for key, value in self._conf.items():
            spark.conf.set(key, value)
        if self._database is not None:
            spark.catalog.setCurrentDatabase(self._database)

    def _new_spark_session(self) -> Any:
        """A session of its own for a reader: temporary views, tags and confs apart."""
        if self._remote is None:
            return self._session.newSession()  # the same Spark context
        from pyspark.sql.connect.session import SparkSession as ConnectSession

        return ConnectSession(connection=self._remote)

    def _forget(self, session: _Session) -> None:
        """Drop a reader's session; on Spark Connect the server releases it too."""
        self._sessions.pop(id(session.backend), None)
        if self._remote is not None:
            with suppress(Exception):
                self._spark(session.backend).stop()

    def _view(self, session: _Session, name: str, parts: Sequence[str], schema: Any) -> None:
        reader = self._spark(session.backend).read
        if schema is not None:
            reader = reader.schema(schema)
        frame = reader.parquet(*(self._path(p) for p in parts))
        frame.createOrReplaceTempView(name)

    def _register_tables(self, session: _Session, tables: dict[str, list[str]]) -> None:
        for name, parts in tables.items():
            self._view(session, name, parts, spark_schema(schema_of(name)))
        session.serial = self._serial

    def _state_of(self, backend: ibis.BaseBackend) -> _Session:
        return self._sessions[id(backend)]

    def _write_arrow(self, part: str, rows: pa.Table) -> None:
        """One Parquet part from Arrow, written here: the lake is storage this process
        and Spark (local, or a Connect server's cluster) both see, so the rows do not
        travel through Spark."""
        path = Path(self._path(part))
        path.mkdir(parents=True)
        pq.write_table(rows, path / "part-0.parquet")

    def _write_frame(self, part: str, frame: Any, schema: ibis.Schema | None) -> None:
        """One Parquet part from a Spark DataFrame, its columns cast to ``schema``. In
        local mode the rows come back as Arrow and are written here: one Spark job, not
        a job plus Hadoop's commit of its output (most of a small write's time)."""
        if schema is not None:  # frame[n]: a column of the frame's kind (classic or Connect)
            columns = [frame[n].cast(spark_type(t)).alias(n) for n, t in schema.items()]
            frame = frame.select(*columns)
        if self._remote is not None:
            frame.write.mode("error").parquet(self._path(part))
            return
        rows = frame.toArrow()
        if schema is not None:
            rows = rows.cast(arrow_schema(schema))
        self._write_arrow(part, rows)

    # -- canonical tables: writes ------------------------------------------------------
    @contextmanager
    def _write_unit(self, scope: Any = None, *, versioned: bool = False) -> Iterator[None]:
        """The writes inside commit together: one new state file (joins an open one)."""
        with self._writing():
            if self._pending is not None:
                yield
                return
            main = self._sessions[id(self._main)]
            with self._file_lock():
                if self._load_state() or main.serial != self._serial:
                    self._register_tables(main, self._committed)
                self._pending = {k: list(v) for k, v in self._committed.items()}
                self._written = []
                try:
                    yield
                    if versioned:
                        self._new_version(scope)
                    self._save_state(self._pending)
                except BaseException:
                    for part in self._written:
                        self._remove(part)
                    self._register_tables(main, self._committed)
                    raise
                finally:
                    self._pending = None
                    self._written = []
                main.serial = self._serial
                with self._idle_lock:
                    for stale in [s for s in self._idle if s.serial != self._serial]:
                        self._forget(stale)
                    self._idle = [s for s in self._idle if s.serial == self._serial]

    @contextmanager
    def transaction(self, scope: Any = None) -> Iterator[None]:
        with self._write_unit(scope, versioned=True):
            yield

    def _replace_parts(self, name: str, parts: list[str]) -> None:
        assert self._pending is not None
        self._pending[name] = parts
        self._view(self._sessions[id(self._main)], name, parts, spark_schema(schema_of(name)))

    def _add_part(self, name: str, part: str) -> None:
        assert self._pending is not None
        self._written.append(part)
        parts = [*self._pending[name], part]
        if len(parts) > _COMPACT_AFTER:
            self._replace_parts(name, parts)
            parts = [self._rewrite(name, sge.false())]
        self._replace_parts(name, parts)

    def _rewrite(self, name: str, deleted: sge.Expression | sge.Condition) -> str:
        """A new part of ``name`` holding its rows but those where ``deleted`` is true."""
        statement = (
            sg.select("*")
            .from_(sge.table_(name, quoted=True))
            .where(sge.Not(this=sge.Coalesce(this=deleted, expressions=[sge.false()])))
        )
        return self._rewrite_select(name, statement)

    def _rewrite_select(self, name: str, statement: sge.Expression) -> str:
        session = self._spark(self._main)
        frame = session.sql(statement.sql(self._main.compiler.dialect))
        part = self._new_part(f"tables/{name}")
        self._written.append(part)
        self._write_frame(part, frame, schema_of(name))
        return part

    def _create_empty(self, name: str) -> None:
        part = self._new_part(f"tables/{name}")
        self._written.append(part)
        self._write_arrow(part, arrow_schema(schema_of(name)).empty_table())
        assert self._pending is not None
        self._replace_parts(name, [part])

    def insert_arrow(self, name: str, rows: pa.Table) -> None:
        with self._write_unit():
            schema = arrow_schema(schema_of(name))
            part = self._new_part(f"tables/{name}")
            self._write_arrow(part, rows.select(schema.names).cast(schema))
            self._add_part(name, part)

    def insert_expr(self, name: str, rows: ir.Table) -> None:
        with self._write_unit():
            schema = schema_of(name)
            main = self._main
            main._run_pre_execute_hooks(rows)
            frame = self._spark(main).sql(main.compile(rows.select(*schema.names)))
            part = self._new_part(f"tables/{name}")
            self._write_frame(part, frame, schema)
            self._add_part(name, part)

    def _delete(self, name: str, condition: sge.Expression | sge.Condition) -> None:
        with self._write_unit():
            self._replace_parts(name, [self._rewrite(name, condition)])

    def delete_matching(self, name: str, scope: Any, key: tuple[str, ...], keys: ir.Table) -> None:
        self._main._run_pre_execute_hooks(keys)
        subquery = sg.parse_one(self.compile(keys), read=self._main.compiler.dialect)
        condition = sg.and_(
            scope_condition(scope),
            sge.Tuple(expressions=[sg.column(k, quoted=True) for k in key]).isin(
                query=subquery.subquery()  # type: ignore[attr-defined]
            ),
        )
        self._delete(name, condition)

    def delete_keys(
        self, name: str, scope: Any, key: tuple[str, ...], rows: Sequence[dict[str, Any]]
    ) -> None:
        if not rows:
            return
        self._delete(name, sg.and_(scope_condition(scope), keys_condition(key, rows)))

    def delete_scope(self, name: str, scope: Any) -> None:
        self._delete(name, scope_condition(scope))

    def run_statement(self, statement: Any) -> None:
        """An ``UPDATE`` (the only statement cohortd runs so) as a rewrite of the table."""
        if isinstance(statement, str):
            statement = sg.parse_one(statement, read=self._main.compiler.dialect)
        if not isinstance(statement, sge.Update):
            raise TypeError(
                f"the Spark warehouse runs UPDATE statements only (as a rewrite of the "
                f"table), not {type(statement).__name__}"
            )
        name = statement.this.name
        assigned = {eq.this.name: eq.expression for eq in statement.expressions}
        where = statement.args["where"].this
        columns = [
            sge.alias_(
                sge.Case(
                    ifs=[sge.If(this=where, true=assigned[n])], default=sg.column(n, quoted=True)
                )
                if n in assigned
                else sg.column(n, quoted=True),
                n,
                quoted=True,
            )
            for n in schema_of(name).names
        ]
        statement = sg.select(*columns).from_(sge.table_(name, quoted=True))
        with self._write_unit():
            self._replace_parts(name, [self._rewrite_select(name, statement)])

    def _new_version(self, scope: Any) -> None:
        org_id, livemode = (GLOBAL_ORG, False) if scope is None else (scope.org_id, scope.livemode)
        self._delete(
            DATA_VERSIONS,
            sg.and_(
                sg.column("org_id", quoted=True).eq(sge.convert(org_id)),
                sg.column("livemode", quoted=True).eq(sge.convert(livemode)),
            ),
        )
        self.insert_arrow(
            DATA_VERSIONS,
            pa.table({"org_id": [org_id], "livemode": [livemode], "version": [uuid.uuid4().hex]}),
        )

    # -- schema ------------------------------------------------------------------------
    def ensure_schema(self) -> None:
        with self._write_unit():
            self._tables.clear()
            assert self._pending is not None
            for name in (*SCHEMAS, _META):
                if name not in self._pending:
                    self._create_empty(name)
            version = self.execute(self.table(_META).schema_version.max())
            if version is None or version != version:  # no row (a null or NaN max)
                self.insert_arrow(_META, pa.table({"schema_version": [SCHEMA_VERSION]}))
            elif int(version) < SCHEMA_VERSION:
                self._upgrade()
            if self.execute(self.table(FX_ECB).count()) == 0:
                self.insert_arrow(FX_ECB, ecb_reference_rates())
        self._tables.update({name: self._main.table(name) for name in (*SCHEMAS, _META)})

    def _recreate_table(self, name: str) -> None:
        with self._write_unit():
            self._create_empty(name)

    # -- readers -----------------------------------------------------------------------
    def _open_reader(self) -> ibis.BaseBackend:
        with self._idle_lock:
            self._load_state()
            while self._idle:
                found = self._idle.pop()
                if found.serial == self._serial:
                    return found.backend
                self._forget(found)
            committed, serial = self._committed, self._serial
        spark = self._new_spark_session()
        self._configure(spark)
        backend = ibis.pyspark.connect(spark)
        session = _Session(backend, serial)
        self._register_tables(session, committed)
        session.serial = serial
        with self._idle_lock:
            self._sessions[id(backend)] = session
        return backend

    def _begin_reader(self, backend: ibis.BaseBackend, seconds: float | None) -> None:
        session = self._state_of(backend)
        session.tag = f"cohortd-{uuid.uuid4().hex}"
        spark = self._spark(backend)
        if self._remote is not None:  # Connect has no Spark context: an operation tag
            spark.addTag(session.tag)
        else:
            context = spark.sparkContext
            context.setLocalProperty("spark.jobGroup.id", session.tag)
            context.setLocalProperty("spark.job.interruptOnCancel", "true")

    def _cancel_reader(self, backend: ibis.BaseBackend) -> None:
        session = self._state_of(backend)
        spark = self._spark(backend)
        if self._remote is not None:
            spark.interruptTag(session.tag)
        else:
            spark.sparkContext.cancelJobGroup(session.tag)

    def _close_reader(self, backend: ibis.BaseBackend, *, broken: bool) -> None:
        session = self._state_of(backend)
        spark = self._spark(backend)
        if self._remote is not None:
            with suppress(Exception):
                spark.removeTag(session.tag)
        else:
            spark.sparkContext.setLocalProperty("spark.jobGroup.id", None)
        for name in list(session.temps):
            self._drop_temp(session, name)
        with self._idle_lock:
            if not broken and session.serial == self._serial and len(self._idle) < _IDLE_READERS:
                self._idle.append(session)
            else:
                self._forget(session)

    # -- temporary tables --------------------------------------------------------------
    def create_temp_table(self, name: str, source: ibis.Schema | ir.Table) -> ir.Table:
        with self._hold() as backend:
            session = self._state_of(backend)
            part = self._new_part("scratch")
            if isinstance(source, ir.Table):
                backend._run_pre_execute_hooks(source)
                frame = self._spark(backend).sql(backend.compile(source))
                # stored as the expression's schema says: Spark types a literal whose
                # cast Ibis dropped (an int8 constant) as INT, and a union with the
                # table read back would then refuse its int32 column
                self._write_frame(part, frame, source.schema())
            else:
                self._write_arrow(part, arrow_schema(source).empty_table())
            self._put_temp(session, name, [part], owned=True)
            return backend.table(name)

    def _put_temp(self, session: _Session, name: str, parts: list[str], *, owned: bool) -> None:
        if name in session.temps:
            self._drop_temp(session, name)
        session.temps[name] = parts
        if owned:
            session.owned.update(parts)
        self._view(session, name, parts, None)

    def put_temp_table(self, name: str, rows: pa.Table) -> None:
        with self._hold() as backend:
            part = self._new_part("scratch")
            self._write_arrow(part, rows)
            self._put_temp(self._state_of(backend), name, [part], owned=True)

    def insert_temp(self, name: str, rows: pa.Table) -> None:
        with self._hold() as backend:
            session = self._state_of(backend)
            part = self._new_part("scratch")
            self._write_arrow(part, rows)
            parts = [*session.temps[name], part]
            session.temps[name] = parts
            session.owned.add(part)
            self._view(session, name, parts, None)

    def temp_table(self, name: str) -> ir.Table:
        with self._hold() as backend:
            return backend.table(name)

    def files_view(self, name: str, paths: Sequence[Path]) -> ir.Table:
        # Spark skips files whose names start with "_" or "." (the staged files' do):
        # each is linked into a part of this warehouse under a plain name
        part = self._new_part("scratch")
        folder = self.root / part
        folder.mkdir(parents=True)
        for number, path in enumerate(paths):
            target = folder / f"part-{number:07d}.parquet"
            try:
                os.link(path, target)
            except OSError:  # another file system
                shutil.copyfile(path, target)
        with self._hold() as backend:
            self._put_temp(self._state_of(backend), name, [part], owned=True)
            return backend.table(name)

    def drop_files_view(self, name: str) -> None:
        self.drop_temp_table(name)

    def drop_temp_table(self, name: str) -> None:
        with self._hold() as backend:
            self._drop_temp(self._state_of(backend), name)

    def _drop_temp(self, session: _Session, name: str) -> None:
        parts = session.temps.pop(name, None)
        if parts is None:
            return
        with suppress(Exception):
            self._spark(session.backend).catalog.dropTempView(name)
        for part in parts:
            if part in session.owned:
                session.owned.discard(part)
                self._remove(part)

    # -- reads -------------------------------------------------------------------------
    def to_pyarrow(self, expr: ir.Expr) -> pa.Table:
        from ibis.formats.pyarrow import PyArrowData

        with self._hold() as backend:
            backend._run_pre_execute_hooks(expr)
            table = expr.as_table()
            arrow = self._spark(backend).sql(backend.compile(table)).toArrow()
        return expr.__pyarrow_result__(PyArrowData.convert_table(arrow, table.schema()))

    def execute(self, expr: ir.Expr) -> Any:
        """Through Arrow, as on DuckDB (PySpark's ``toPandas`` warns on pandas 3)."""
        import pandas as pd
        import pyarrow.types as pat
        from ibis.formats.pandas import PandasData

        table = expr.as_table()
        arrow = self.to_pyarrow(table)
        frame = pd.DataFrame(
            {
                name: (
                    column.to_pylist()
                    if pat.is_nested(column.type) or column.null_count
                    else column.to_pandas()
                )
                for name, column in zip(arrow.column_names, arrow.columns, strict=True)
            }
        )
        return expr.__pandas_result__(PandasData.convert_table(frame, table.schema()))

    def fetch_rows(self, sql: str) -> list[dict[str, Any]]:
        with self._hold() as backend:
            return [row.asDict() for row in self._spark(backend).sql(sql).collect()]

    def fetch_arrow(self, sql: str) -> pa.Table:
        with self._hold() as backend:
            result: pa.Table = self._spark(backend).sql(sql).toArrow()
            return result

    def ping(self) -> None:
        with self.reading():
            self.fetch_rows("SELECT 1 AS one")

    def close(self) -> None:
        with self._idle_lock:
            self._idle.clear()
        main = self._sessions[id(self._main)]
        for session in list(self._sessions.values()):
            for name in list(session.temps):
                self._drop_temp(session, name)
            if session is not main:
                self._forget(session)
        if self._owns_session:
            self._session.stop()


def connect_spark(url: str) -> SparkWarehouse:
    """``spark://local?path=DIR`` (an embedded local-mode session; ``cores=N`` caps its
    threads, ``partitions=N`` sets the shuffle partitions, ``memory=8g`` its heap) or
    ``sc://HOST:PORT?path=DIR`` (Spark Connect; DIR on storage both the server and
    cohortd see). Every failure names ``COHORTD_WAREHOUSE_URL``."""
    from urllib.parse import parse_qs, urlparse

    parsed = urlparse(url)
    query = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
    if "path" not in query:
        raise SparkUnavailable(f"{SETTING}={url!r}: add ?path=DIR, the folder of the tables")
    root = Path(query["path"]).expanduser().resolve()
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe = root / f".probe-{uuid.uuid4().hex}"
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise SparkUnavailable(f"{SETTING}={url!r}: {root} is not writable ({error})") from None
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise SparkUnavailable(
            f"{SETTING}={url!r} needs PySpark: pip install 'cohortd[spark]'"
        ) from None
    if parsed.scheme == "sc":
        address = (parsed.hostname or "", parsed.port or 15002)
        return _connect_remote(url, f"sc://{parsed.netloc}", address, root, query)
    if parsed.netloc != "local":
        raise SparkUnavailable(f"{SETTING}={url!r}: use spark://local?path=DIR or sc://HOST:PORT")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        raise SparkUnavailable(f"{SETTING}={url!r} needs Java 17 or later (none found on PATH)")
    from pyspark import SparkContext

    # the process's Spark context, if any (the active session is per thread: the app's
    # lifespan and an import job run on threads of their own): a warehouse stops only a
    # context it started
    started_here = SparkContext._active_spark_context is None
    try:
        builder = SparkSession.builder.master(f"local[{query.get('cores', '*')}]")
        conf = {**LOCAL_CONF, "spark.sql.shuffle.partitions": query.get("partitions", "8")}
        if "memory" in query:  # the JVM's heap: in local mode it runs every task
            conf["spark.driver.memory"] = query["memory"]
        for key, value in conf.items():
            builder = builder.config(key, value)
        session = builder.appName("cohortd").getOrCreate()
        session.sparkContext.setLogLevel("ERROR")
    except Exception as error:
        raise SparkUnavailable(f"{SETTING}={url!r}: Spark did not start ({error})") from None
    # a session of this warehouse's own on the process's Spark context: another warehouse
    # in the process (a test run's, the demo's import) keeps its views of its own tables
    return SparkWarehouse(
        session.newSession(),
        url,
        root=root,
        owns_session=started_here,
        conf={"spark.sql.shuffle.partitions": conf["spark.sql.shuffle.partitions"]},
    )


def _connect_remote(
    url: str, remote: str, address: tuple[str, int], root: Path, query: dict[str, str]
) -> SparkWarehouse:
    """A warehouse on a Spark Connect server: a session of its own (not the process's
    default one, which another warehouse or ``SparkSession.builder`` may hold)."""
    from pyspark.sql.connect.session import SparkSession as ConnectSession

    try:  # the Connect client retries for minutes: a closed port is told at once
        socket.create_connection(address, 10).close()
    except OSError as error:
        raise SparkUnavailable(f"{SETTING}={url!r}: cannot reach Spark Connect ({error})") from None
    session = ConnectSession(connection=remote)
    try:
        session.sql("SELECT 1").collect()
        database = query.get("database")
        return SparkWarehouse(
            session, url, root=root, owns_session=True, remote=remote, database=database
        )
    except Exception as error:
        session.stop()
        raise SparkUnavailable(f"{SETTING}={url!r}: cannot use Spark Connect ({error})") from None
