"""The Spark warehouse: clear errors at start, and a failed write that leaves the
previous tables readable (docs/spark.md)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa
import pytest

from cohortd.warehouse import Scope, Warehouse, connect, scoped
from cohortd.warehouse.tables import SCHEMAS, SUBSCRIPTIONS
from tests.conftest import spark_url

pytestmark = pytest.mark.spark


def _start_error(url: str) -> str:
    from cohortd.warehouse.spark_backend import SparkUnavailable

    with pytest.raises(SparkUnavailable) as caught:
        connect(url)
    message = str(caught.value)
    assert message.startswith("COHORTD_WAREHOUSE_URL=")
    return message


def test_a_url_without_a_folder_is_refused() -> None:
    assert "add ?path=DIR" in _start_error("spark://local")


def test_a_folder_that_cannot_be_written_is_refused(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert "is not writable" in _start_error(spark_url(blocker / "lake"))


def test_missing_pyspark_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyspark.sql", None)  # the import then fails
    assert "pip install 'cohortd[spark]'" in _start_error(spark_url(tmp_path))


def test_missing_java_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    assert "needs Java 17" in _start_error(spark_url(tmp_path))


def test_an_unreachable_spark_connect_server_is_named(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    message = _start_error(f"sc://127.0.0.1:{port}?path={tmp_path}")
    assert "cannot reach Spark Connect" in message


def _rows(scope: Scope, ids: list[str]) -> pa.Table:
    schema = SCHEMAS[SUBSCRIPTIONS].to_pyarrow()
    count = len(ids)
    columns = {
        "org_id": [scope.org_id] * count,
        "livemode": [False] * count,
        "id": ids,
        "customer_id": ["c1"] * count,
        "plan_id": ["pro"] * count,
        "currency": ["USD"] * count,
        "mrr_minor": [1999] * count,
        "start_date": [pa.scalar(19000, pa.date32()).as_py()] * count,
        "end_date": [None] * count,
        "status": ["active"] * count,
    }
    return pa.table(columns, schema=schema)


def test_a_failed_write_leaves_the_previous_tables(spark_warehouse: Warehouse, new_scope) -> None:
    warehouse = spark_warehouse
    scope = new_scope()
    with warehouse.transaction(scope):
        warehouse.insert_arrow(SUBSCRIPTIONS, _rows(scope, ["s1", "s2"]))
    root: Path = warehouse.root  # type: ignore[attr-defined]
    state_before = json.loads((root / "cohortd_state.json").read_text())

    def stored() -> list[str]:
        table = scoped(warehouse, SUBSCRIPTIONS, scope)
        return sorted(warehouse.to_pyarrow(table.select("id"))["id"].to_pylist())

    with pytest.raises(RuntimeError, match="mid-write"), warehouse.transaction(scope):
        warehouse.delete_scope(SUBSCRIPTIONS, scope)
        warehouse.insert_arrow(SUBSCRIPTIONS, _rows(scope, ["s3"]))
        assert stored() == ["s3"]  # the write sees its own rows
        raise RuntimeError("mid-write")
    assert stored() == ["s1", "s2"]
    with warehouse.reading():
        assert stored() == ["s1", "s2"]
    state_after = json.loads((root / "cohortd_state.json").read_text())
    assert state_after == state_before
    for parts in state_after["tables"].values():
        assert all(os.path.exists(root / part) for part in parts)


def test_two_warehouses_of_one_process_keep_their_own_tables(
    spark_warehouse: Warehouse, new_scope, tmp_path: Path
) -> None:
    # the demo and the app open a second warehouse on the process's Spark context: each
    # must read its own folder's tables, with and without a reading block
    from tests.conftest import spark_url

    scope = new_scope()
    with spark_warehouse.transaction(scope):
        spark_warehouse.insert_arrow(SUBSCRIPTIONS, _rows(scope, ["first"]))
    # opened on another thread, as the app's lifespan and import jobs do: the active
    # session is per thread, and closing this warehouse must not stop the process's Spark
    with ThreadPoolExecutor(1) as pool:
        other = pool.submit(connect, spark_url(tmp_path / "other-lake")).result()
    try:
        with other.transaction(scope):
            other.insert_arrow(SUBSCRIPTIONS, _rows(scope, ["second"]))
        for warehouse, wanted in ((spark_warehouse, ["first"]), (other, ["second"])):
            table = scoped(warehouse, SUBSCRIPTIONS, scope).select("id")
            assert warehouse.to_pyarrow(table)["id"].to_pylist() == wanted
            with warehouse.reading():
                assert warehouse.to_pyarrow(table)["id"].to_pylist() == wanted
    finally:
        other.close()
    # closing the second left the first (and the process's Spark context) working
    table = scoped(spark_warehouse, SUBSCRIPTIONS, scope).select("id")
    assert spark_warehouse.to_pyarrow(table)["id"].to_pylist() == ["first"]


def test_the_url_sizes_a_local_session(tmp_path: Path) -> None:
    # a process of its own: the JVM's heap is fixed when the JVM starts
    script = (
        "import sys\n"
        "from cohortd.warehouse import connect\n"
        "w = connect(sys.argv[1])\n"
        "conf = w._session.sparkContext.getConf()\n"
        "print(conf.get('spark.driver.memory'), conf.get('spark.master'),"
        " w._session.conf.get('spark.sql.shuffle.partitions'))\n"
        "w.close()\n"
    )
    url = f"spark://local?path={tmp_path}&memory=700m&cores=1&partitions=3"
    done = subprocess.run(
        [sys.executable, "-c", script, url], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["700m", "local[1]", "3"]
