"""Shared fixtures: real databases only (a temp DuckDB, this machine's PostgreSQL, a temp SQLite).

PostgreSQL and Redis come from ``COHORTD_TEST_POSTGRES_URL`` / ``COHORTD_TEST_REDIS_URL``
(defaults: the local servers). Outside CI a test that needs an absent server skips with a
visible reason; with ``CI=true`` it fails loudly instead.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

import pytest

from cohortd import clock
from cohortd.warehouse import Warehouse, connect

pytest_plugins = ["tests.fixtures.api"]

POSTGRES_URL = os.environ.get(
    "COHORTD_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("COHORTD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
IN_CI = os.environ.get("CI", "").lower() == "true"

# One today for the whole session, servers started as subprocesses included: a run that
# crosses midnight UTC would otherwise compare a date taken before it with one taken after.
os.environ.setdefault(clock.ENV, datetime.now(UTC).date().isoformat())


def require_service(name: str, error: Exception) -> None:
    """Skip (outside CI) or fail (in CI) because a real service is not reachable."""
    message = f"{name} is not reachable: {type(error).__name__}: {error}"
    if IN_CI:
        pytest.fail(message + " (CI=true: a missing service is a failure)")
    pytest.skip(message)


def _admin_url(url: str, database: str) -> str:
    parsed = urlparse(url)
    return urlunparse(parsed._replace(path="/" + database))


@contextmanager
def fresh_postgres_database(label: str = "test") -> Iterator[str]:
    """A new PostgreSQL database (its URL), dropped on exit."""
    import psycopg

    name = f"cohortd_{label}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        admin = psycopg.connect(POSTGRES_URL, autocommit=True)
    except psycopg.Error as error:
        require_service("PostgreSQL", error)
        raise
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _admin_url(POSTGRES_URL, name)
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped at the end."""
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture(scope="session")
def postgres_warehouse(postgres_database: str) -> Iterator[Warehouse]:
    warehouse = connect(postgres_database)
    yield warehouse
    warehouse.close()


@pytest.fixture(scope="session")
def duckdb_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    warehouse = connect(f"duckdb:///{tmp_path_factory.mktemp('duck') / 'warehouse.duckdb'}")
    yield warehouse
    warehouse.close()


def spark_url(folder: object) -> str:
    """A local Spark warehouse in ``folder``: two cores, few shuffle partitions (the
    machine is shared), one session for the whole test run."""
    return f"spark://local?path={folder}&cores=2&partitions=4"


@pytest.fixture(scope="session")
def spark_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    try:
        import pyspark  # noqa: F401
    except ImportError as error:  # the `spark` extra: uv sync --extra spark
        require_service("PySpark (the spark extra)", error)
    warehouse = connect(spark_url(tmp_path_factory.mktemp("lake")))
    yield warehouse
    warehouse.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def spark_connect_server(log: Path, *, wait: float = 120.0) -> Iterator[int]:
    """A real Spark Connect server (pyspark's bundled jars, ``local[2]``, no UI) on a free
    loopback port, stopped on exit; its log is shown if it does not listen in time."""
    import pyspark

    home = os.path.dirname(pyspark.__file__)
    port = _free_port()
    command = [
        os.path.join(home, "bin", "spark-submit"),
        "--class",
        "org.apache.spark.sql.connect.service.SparkConnectServer",
        "--master",
        "local[2]",
        "--conf",
        f"spark.connect.grpc.binding.port={port}",
        "--conf",
        "spark.connect.grpc.binding.address=127.0.0.1",
        "--conf",
        "spark.ui.enabled=false",
        "--conf",
        "spark.sql.shuffle.partitions=4",
        "--conf",
        f"spark.sql.warehouse.dir={log.parent / 'spark-warehouse'}",  # a database's folder
        "spark-internal",
    ]
    with open(log, "wb") as output:
        server = subprocess.Popen(
            command,
            env={**os.environ, "SPARK_HOME": home},
            cwd=log.parent,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its JVM child is stopped with it
        )
    try:
        started = time.monotonic()
        while not _listening(port):
            if server.poll() is not None or time.monotonic() - started > wait:
                raise RuntimeError(
                    f"the Spark Connect server did not listen on 127.0.0.1:{port} "
                    f"(exit code {server.poll()}); its log:\n{log.read_text()[-5000:]}"
                )
            time.sleep(0.5)
        yield port
    finally:
        with suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


@pytest.fixture(scope="session")
def spark_connect_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    """A warehouse on a real Spark Connect server, one for the whole test run
    (``sc://127.0.0.1:PORT?path=DIR``; the server and the tests share the folder)."""
    try:
        import pyspark  # noqa: F401
    except ImportError as error:
        require_service("PySpark (the spark extra)", error)
    folder = tmp_path_factory.mktemp("connect")
    with ExitStack() as stack:
        try:
            port = stack.enter_context(spark_connect_server(folder / "server.log"))
        except RuntimeError as error:
            require_service("a Spark Connect server", error)
        warehouse = connect(f"sc://127.0.0.1:{port}?path={folder / 'lake'}")
        yield warehouse
        warehouse.close()


POSTGRES = pytest.param("postgres", marks=pytest.mark.postgres)
SPARK = pytest.param("spark", marks=pytest.mark.spark)
# the tests that run on Spark too take their warehouse from these; the others run on
# DuckDB and PostgreSQL (docs/spark.md lists which, and why)
ENGINE_BACKENDS = ["duckdb", POSTGRES, SPARK]

# a test of a module otherwise on DuckDB and PostgreSQL that runs on Spark too
on_spark_too = pytest.mark.parametrize("warehouse", ENGINE_BACKENDS, indirect=True)


def per_backend(cases: dict[str, list[Any]], *, name: Callable[[Any], str] = str) -> list[object]:
    """Parameters ``(warehouse, value)`` with each backend's own values, for a test that
    takes ``warehouse`` indirectly: where Spark (about a second a statement) runs fewer
    of a test's cases than DuckDB and PostgreSQL. ``name`` names a value in the ids."""
    marks = {"postgres": pytest.mark.postgres, "spark": pytest.mark.spark}
    return [
        pytest.param(backend, value, marks=marks.get(backend, ()), id=f"{backend}-{name(value)}")
        for backend, values in cases.items()
        for value in values
    ]


@pytest.fixture(params=["duckdb", POSTGRES])
def warehouse(request: pytest.FixtureRequest) -> Warehouse:
    """One test body, every backend: the session's DuckDB and PostgreSQL warehouses.

    Tests isolate themselves by using a fresh organization id (``new_scope``)."""
    return request.getfixturevalue(f"{request.param}_warehouse")


@pytest.fixture
def new_scope():
    """A factory of fresh, unique test-mode scopes."""
    from cohortd.warehouse import Scope

    def make(*, livemode: bool = False) -> Scope:
        return Scope(org_id=f"org_{uuid.uuid4().hex}", livemode=livemode)

    return make
