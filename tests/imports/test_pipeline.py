"""Upserts, re-imports, on_error=skip and atomicity (an exception or a kill mid-merge)."""

from __future__ import annotations

import textwrap
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from cohortd.engine import derived
from cohortd.imports.columns import ImportKind
from cohortd.imports.pipeline import KindCounts, OnError
from cohortd.warehouse import Scope, Warehouse, connect
from cohortd.warehouse.tables import CUSTOMER_CATEGORY_FIELDS
from tests.conftest import ENGINE_BACKENDS
from tests.imports.helpers import (
    GOOD_CUSTOMERS,
    GOOD_SUBSCRIPTIONS,
    assert_derived_true,
    backend_url,
    derived_snapshot,
    every_backend,
    problems,
    run,
    run_killed,
    stored,
)

FX = "date,currency,rate\n2024-01-01,USD,1.1\n2024-01-01,JPY,160.5\n"


def test_reimport_changes_nothing_and_updates_upsert(
    warehouse: Warehouse, new_scope, tmp_path: Path
) -> None:
    scope = new_scope()
    files = {
        "customers": ("c.csv", GOOD_CUSTOMERS),
        "subscriptions": ("s.csv", GOOD_SUBSCRIPTIONS),
        "exchange_rates": ("fx.csv", FX),
    }
    first = run(warehouse, scope, tmp_path, **files)
    assert first.counts == {
        ImportKind.customers: KindCounts(inserted=2),
        ImportKind.subscriptions: KindCounts(inserted=2),
        ImportKind.exchange_rates: KindCounts(inserted=2),
    }
    assert_derived_true(warehouse, scope)
    before = {t: stored(warehouse, scope, t) for t in ("customers", "subscriptions", "fx_rates")}
    again = run(warehouse, scope, tmp_path, **files)
    assert again.counts == {
        ImportKind.customers: KindCounts(unchanged=2),
        ImportKind.subscriptions: KindCounts(unchanged=2),
        ImportKind.exchange_rates: KindCounts(unchanged=2),
    }
    assert {t: stored(warehouse, scope, t) for t in before} == before
    # c2 renamed, c3 new; USD rate changed on the same (date, currency).
    changed = run(
        warehouse,
        scope,
        tmp_path,
        customers=("c.csv", "id,name,created_at\nc2,Beta2,2024-02-01\nc3,New,2024-03-01\n"),
        exchange_rates=("fx.csv", "date,currency,rate\n2024-01-01,USD,1.2\n"),
    )
    assert changed.counts[ImportKind.customers] == KindCounts(inserted=1, updated=1)
    assert changed.counts[ImportKind.exchange_rates] == KindCounts(updated=1)
    assert_derived_true(warehouse, scope)
    names = [(c["id"], c["name"]) for c in stored(warehouse, scope, "customers")]
    # The import's rows replace whole rows: c2 no longer has the email it never had anyway.
    assert names == [("c1", "Acme"), ("c2", "Beta2"), ("c3", "New")]
    rates = {(r["currency"], r["rate"]) for r in stored(warehouse, scope, "fx_rates")}
    assert rates == {("USD", Decimal("1.2")), ("JPY", Decimal("160.5"))}


def test_on_error_skip_writes_the_good_rows(
    warehouse: Warehouse, new_scope, tmp_path: Path
) -> None:
    scope = new_scope()
    customers = "id,created_at\nc1,2024-01-01\nc2,never\nc3,2024-01-01\nc1,2024-05-05\n"
    subs = (
        "id,customer_id,currency,mrr,start_date\n"
        "s1,c1,USD,10,2024-01-01\n"
        "s2,c2,USD,10,2024-01-01\n"  # c2 was skipped, so it is unknown
        "s3,c3,USD,-1,2024-01-01\n"
        "s4,c3,USD,5,2024-01-01\n"
    )
    outcome = run(
        warehouse,
        scope,
        tmp_path,
        on_error=OnError.skip,
        customers=("c.csv", customers),
        subscriptions=("s.csv", subs),
    )
    assert outcome.succeeded
    assert problems(outcome) == [
        ("c.csv", 3, "created_at", "never", "not an ISO 8601 date or timestamp"),
        ("c.csv", 5, "id", "c1", "duplicate id (first in row 2)"),
        (
            "s.csv",
            3,
            "customer_id",
            "c2",
            "unknown customer (not in this import nor already stored)",
        ),
        ("s.csv", 4, "mrr", "-1", "negative MRR"),
    ]
    # Customers: c1 (first row kept) and c3 in, c2 and the 2nd c1 skipped; subs s1, s4.
    assert outcome.counts[ImportKind.customers] == KindCounts(inserted=2, skipped=2)
    assert outcome.counts[ImportKind.subscriptions] == KindCounts(inserted=2, skipped=2)
    assert [c["id"] for c in stored(warehouse, scope, "customers")] == ["c1", "c3"]
    c1 = stored(warehouse, scope, "customers")[0]
    assert str(c1["created_at"].date()) == "2024-01-01"
    assert [s["id"] for s in stored(warehouse, scope, "subscriptions")] == ["s1", "s4"]


class Boom(Exception):
    pass


@pytest.fixture(params=ENGINE_BACKENDS)
def atomic_warehouse(request: pytest.FixtureRequest) -> Warehouse:
    """Every data plane, Spark included: the import's atomicity is each one's own work."""
    return request.getfixturevalue(f"{request.param}_warehouse")


@pytest.mark.parametrize("step", ["customers:deleted", "subscriptions:inserted", "derived:marked"])
def test_a_failure_mid_merge_leaves_previous_data(
    atomic_warehouse: Warehouse, new_scope, tmp_path: Path, step: str
) -> None:
    warehouse = atomic_warehouse
    scope = new_scope()
    assert run(warehouse, scope, tmp_path, customers=("c.csv", GOOD_CUSTOMERS)).succeeded
    assert derived.catch_up(warehouse, scope)
    before = stored(warehouse, scope, "customers")
    derived_before = derived_snapshot(warehouse, scope)

    def fail_at(reached: str) -> None:
        if reached == step:
            raise Boom(reached)

    with pytest.raises(Boom):
        run(
            warehouse,
            scope,
            tmp_path,
            between_steps=fail_at,
            customers=("c.csv", GOOD_CUSTOMERS.replace("Acme", "Changed")),
            subscriptions=("s.csv", GOOD_SUBSCRIPTIONS),
        )
    assert stored(warehouse, scope, "customers") == before
    assert stored(warehouse, scope, "subscriptions") == []
    assert derived_snapshot(warehouse, scope) == derived_before
    assert not derived.stale(warehouse, scope)  # the record of the changes rolled back too
    # The warehouse still works afterwards (no transaction left open, no stray temp tables).
    assert run(warehouse, scope, tmp_path, subscriptions=("s.csv", GOOD_SUBSCRIPTIONS)).succeeded


KILLED_IMPORT = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from cohortd.imports.columns import ImportKind
    from cohortd.imports.parsing import ImportSource
    from cohortd.imports.pipeline import run_import
    from cohortd.warehouse import Scope, connect

    url, org, folder = sys.argv[1], sys.argv[2], Path(sys.argv[3])

    def die(step):
        if step == "customers:inserted":  # deleted + re-inserted, not yet committed
            os.kill(os.getpid(), signal.SIGKILL)

    sources = [
        ImportSource(ImportKind.customers, folder / "c2.csv", "c2.csv"),
        ImportSource(ImportKind.subscriptions, folder / "s.csv", "s.csv"),
    ]
    run_import(connect(url), Scope(org, False), sources, between_steps=die)
    """
)


@every_backend
def test_a_killed_import_leaves_previous_data(
    new_scope, tmp_path: Path, request: pytest.FixtureRequest, backend: str
) -> None:
    """A real process killed (SIGKILL) inside the merge transaction."""
    if backend == "spark":  # the test run's one Spark session, not one this test stops
        request.getfixturevalue("spark_warehouse")
    scope = new_scope()
    url = backend_url(backend, tmp_path, request)
    warehouse = connect(url)
    assert run(warehouse, scope, tmp_path, customers=("c.csv", GOOD_CUSTOMERS)).succeeded
    before = stored(warehouse, scope, "customers")
    warehouse.close()
    (tmp_path / "c2.csv").write_text(GOOD_CUSTOMERS.replace("Acme", "Changed"))
    (tmp_path / "s.csv").write_text(GOOD_SUBSCRIPTIONS)
    run_killed(KILLED_IMPORT, url, scope.org_id, str(tmp_path))
    warehouse = connect(url)
    try:
        assert stored(warehouse, scope, "customers") == before
        assert stored(warehouse, scope, "subscriptions") == []
    finally:
        warehouse.close()


def test_a_new_duckdb_warehouse_stores_with_the_hinted_compression(tmp_path: Path) -> None:
    """``tables.COMPRESSION``: the methods named there are the ones DuckDB uses."""
    from cohortd.warehouse.tables import COMPRESSION

    warehouse = connect(f"duckdb:///{tmp_path / 'hints.duckdb'}")
    try:
        customers = "".join(
            f"c{i},Name {i},n{i}@example.com,{'DE' if i % 2 else 'FR'},2024-01-{1 + i % 28:02d}\n"
            for i in range(3000)
        )
        subscriptions = "".join(
            f"s{i},c{i},{'pro' if i % 2 else 'basic'},{'USD' if i % 3 else 'EUR'},{i}.99,"
            f"2024-02-{1 + i % 28:02d},,{'active' if i % 2 else 'paused'}\n"
            for i in range(3000)
        )
        outcome = run(
            warehouse,
            Scope("org_hints", False),
            tmp_path,
            customers=("c.csv", "id,name,email,country,created_at\n" + customers),
            subscriptions=("s.csv", GOOD_SUBSCRIPTIONS.splitlines()[0] + "\n" + subscriptions),
        )
        assert outcome.succeeded
        raw = warehouse.con.con
        raw.execute("CHECKPOINT")
        for table, hints in COMPRESSION.items():
            stored_as = raw.execute(
                "SELECT column_name, lower(compression) FROM pragma_storage_info(?) "
                "WHERE segment_type <> 'VALIDITY'",
                [table],
            ).fetchall()
            for column, method in hints.items():
                methods = {m for c, m in stored_as if c == column}
                if column in _ABSENT[table]:  # no value in the files, no method to use
                    assert methods <= {method, "constant", "uncompressed"}, (column, methods)
                elif column == "org_id":  # one value per import
                    assert methods <= {method, "constant"}, (column, methods)
                else:
                    assert methods == {method}, (table, column, methods)
    finally:
        warehouse.close()


# the columns the test's files leave empty
_ABSENT = {
    "customers": {
        "currency",
        *CUSTOMER_CATEGORY_FIELDS,
        "status",
        "plan_id",
        "metadata",
    },
    "subscriptions": {"end_date"},
}


def test_the_staged_files_are_removed_when_the_import_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DuckDB stages Parquet files in a temp folder: gone after a success and a failure."""
    import tempfile

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    made: list[str] = []
    mkdtemp = tempfile.mkdtemp

    def recorded(*args: Any, **kwargs: Any) -> str:
        made.append(mkdtemp(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(tempfile, "mkdtemp", recorded)
    warehouse = connect(f"duckdb:///{tmp_path / 'staged.duckdb'}")
    try:
        scope = Scope("org_staged", False)
        files = tmp_path / "files"
        files.mkdir()
        good = run(warehouse, scope, files, customers=("c.csv", GOOD_CUSTOMERS))
        assert good.succeeded
        duplicated = GOOD_CUSTOMERS + GOOD_CUSTOMERS.splitlines()[1] + "\n"
        bad = run(warehouse, scope, files, customers=("c.csv", duplicated))
        assert not bad.succeeded and "duplicate" in bad.problems[0].reason
        assert len(made) == 2 and all(Path(m).parent == scratch for m in made)
        assert list(scratch.iterdir()) == []
    finally:
        warehouse.close()


def test_the_default_files_view_copies_the_files_into_a_temp_table(tmp_path: Path) -> None:
    """``Warehouse.files_view`` for a backend that cannot read Parquet itself."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from cohortd.warehouse.backends import Warehouse as Base

    paths = [tmp_path / "a.parquet", tmp_path / "b.parquet"]
    pq.write_table(pa.table({"id": ["x", "y"], "_row": [2, 3]}), paths[0])
    pq.write_table(pa.table({"id": ["z"], "_row": [4]}), paths[1])
    warehouse = connect(f"duckdb:///{tmp_path / 'files.duckdb'}")
    try:
        table = Base.files_view(warehouse, "_copied", paths)
        rows = warehouse.to_pyarrow(table.order_by("_row")).to_pylist()
        assert rows == [{"id": "x", "_row": 2}, {"id": "y", "_row": 3}, {"id": "z", "_row": 4}]
        Base.drop_files_view(warehouse, "_copied")
        assert "_copied" not in warehouse.con.list_tables()
    finally:
        warehouse.close()


def test_parts_written_on_several_threads_are_all_staged(tmp_path: Path) -> None:
    """``Staging.write_part`` from many threads at once: every part, once, with a name of
    its own, each row read back through the view; dictionary pages only on the
    repeating columns."""
    from concurrent.futures import ThreadPoolExecutor

    import pyarrow as pa
    import pyarrow.parquet as pq

    from cohortd.warehouse.staging import Staging
    from cohortd.warehouse.tables import SUBSCRIPTIONS

    warehouse = connect(f"duckdb:///{tmp_path / 'parts.duckdb'}")
    staging = Staging(warehouse, Scope("org_parts", False))
    try:
        staged = staging.create("subscriptions", target=SUBSCRIPTIONS, key=("id",))
        batches = [
            pa.table(
                {
                    "id": [f"sub_{b}_{i}" for i in range(50)],
                    "customer_id": [f"cus_{i % 7}" for i in range(50)],
                    "currency": ["USD"] * 50,
                    "_row": list(range(2 + 50 * b, 52 + 50 * b)),
                }
            )
            for b in range(40)
        ]
        with ThreadPoolExecutor(8) as pool:
            parts = list(pool.map(lambda rows: staging.write_part(staged, rows), batches))
        for rows, part in zip(batches, parts, strict=True):
            staging.append(staged, rows, part)
        staging.flush(staged)
        assert len(set(parts)) == 40 and staged.files == parts and staged.rows == 2000
        read = warehouse.to_pyarrow(staged.table.select("_row").order_by("_row"))
        assert read["_row"].to_pylist() == list(range(2, 2002))
        group = pq.ParquetFile(parts[0]).metadata.row_group(0)
        encodings = {group.column(i).path_in_schema: group.column(i).encodings for i in range(4)}
        assert "RLE_DICTIONARY" in encodings["customer_id"]
        assert "RLE_DICTIONARY" in encodings["currency"]
        assert "RLE_DICTIONARY" not in encodings["id"]
    finally:
        staging.drop()
        warehouse.close()


def test_an_import_uses_the_jemalloc_pool_unless_the_user_chose_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import pyarrow as pa

    from cohortd.imports import memory

    before = pa.default_memory_pool()
    # a pyarrow built without jemalloc keeps its default
    built_in = "jemalloc" in pa.supported_memory_backends()
    expected = "jemalloc" if built_in else before.backend_name
    try:
        monkeypatch.setenv("ARROW_DEFAULT_MEMORY_POOL", "system")
        pa.set_memory_pool(pa.system_memory_pool())
        assert memory.use_jemalloc() == "system"  # the user's choice stands
        monkeypatch.delenv("ARROW_DEFAULT_MEMORY_POOL")
        pa.set_memory_pool(before)
        assert memory.use_jemalloc() == expected
        assert memory.use_jemalloc() == expected  # idempotent
        assert pa.default_memory_pool().backend_name == expected
    finally:
        pa.set_memory_pool(before)
