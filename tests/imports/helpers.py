"""Small helpers for import tests: write files, run an import, read back a scope's rows."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cohortd.engine import derived
from cohortd.imports.columns import ImportKind
from cohortd.imports.parsing import ImportSource
from cohortd.imports.pipeline import ImportOutcome, OnError, StepHook, run_import
from cohortd.warehouse import Scope, Warehouse, scoped
from cohortd.warehouse.tables import DERIVED_TABLES

GOOD_CUSTOMERS = (
    "id,name,email,country,created_at\n"
    "c1,Acme,Ann@Example.com ,de,2024-01-15\n"
    "c2,Beta,,,2024-02-01T09:30:00+02:00\n"
)
GOOD_SUBSCRIPTIONS = (
    "id,customer_id,plan_id,currency,mrr,start_date,end_date,status\n"
    "s1,c1,pro,USD,19.99,2024-01-15,,active\n"
    "s2,c2,basic,JPY,1000,2024-02-01,2024-03-01,cancelled\n"
)


def write(folder: Path, name: str, content: str | bytes) -> Path:
    path = folder / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def run(
    warehouse: Warehouse,
    scope: Scope,
    folder: Path,
    *,
    on_error: OnError = OnError.abort,
    between_steps: StepHook | None = None,
    **files: tuple[str, str | bytes],
) -> ImportOutcome:
    """``files``: kind -> (file name, content). Writes them into ``folder`` and imports them."""
    sources = [
        ImportSource(ImportKind(kind), write(folder, name, content), name)
        for kind, (name, content) in files.items()
    ]
    return run_import(warehouse, scope, sources, on_error=on_error, between_steps=between_steps)


def stored(warehouse: Warehouse, scope: Scope, table: str) -> list[dict[str, Any]]:
    """The scope's rows of ``table`` without the scope columns, sorted by their key."""
    rows = warehouse.to_pyarrow(scoped(warehouse, table, scope)).to_pylist()
    for row in rows:
        row.pop("org_id")
        row.pop("livemode")
    return sorted(rows, key=lambda r: tuple(str(r.get(k)) for k in ("id", "date", "currency")))


def problems(outcome: ImportOutcome) -> list[tuple[str, int | None, str | None, str | None, str]]:
    """(file, row, column, value, reason) of each reported problem."""
    return [(p.file, p.row, p.column, p.value, p.reason) for p in outcome.problems]


def derived_snapshot(warehouse: Warehouse, scope: Scope) -> dict[str, list[str]]:
    """The scope's derived rows (``engine.derived``), each table's rows sorted as text."""
    return {
        name: sorted(repr(sorted(row.items())) for row in stored(warehouse, scope, name))
        for name in DERIVED_TABLES
    }


def assert_derived_true(warehouse: Warehouse, scope: Scope) -> None:
    """Once caught up (what the import job does after its commit, and every report
    before it reads), the derived tables hold exactly what a full recomputation from
    the data gives, and nothing waits any more."""
    derived.catch_up(warehouse, scope)
    assert not derived.stale(warehouse, scope)
    kept = derived_snapshot(warehouse, scope)
    with warehouse.transaction():
        derived.refresh(warehouse, scope)
    assert kept == derived_snapshot(warehouse, scope)


# one test body on each data plane, each with a warehouse of its own (``backend_url``)
each_backend = pytest.mark.parametrize(
    "backend", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)]
)
# the import's atomicity, Spark included
every_backend = pytest.mark.parametrize(
    "backend",
    [
        "duckdb",
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("spark", marks=pytest.mark.spark),
    ],
)


def backend_url(backend: str, folder: Path, request: pytest.FixtureRequest) -> str:
    """A warehouse URL of its own: a DuckDB file or a Spark lake in ``folder``, or the
    test PostgreSQL."""
    if backend == "duckdb":
        return f"duckdb:///{folder / 'kill.duckdb'}"
    if backend == "spark":
        from tests.conftest import spark_url

        return spark_url(folder / "lake")
    return str(request.getfixturevalue("postgres_database"))


def run_killed(script: str, *args: str) -> None:
    """Run ``script`` in a real process that must end killed by SIGKILL."""
    child = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        env={**os.environ},
        check=False,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()[-2000:]
