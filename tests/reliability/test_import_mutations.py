"""The import readers against mutated files (CSV, JSON Lines, Parquet; byte flips,
truncation, inserted NULs, wrong types): every file gives a clean import or problems,
never an exception, and a failed import leaves the warehouse exactly as it was. One
test body on each data plane; Hypothesis picks the mutations (bounded counts)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from cohortd.imports.columns import ImportKind
from cohortd.imports.parsing import ImportSource
from cohortd.imports.pipeline import OnError, run_import
from cohortd.warehouse import Scope, Warehouse
from cohortd.warehouse.tables import CUSTOMERS, FX_RATES, SUBSCRIPTIONS
from tests.imports.helpers import GOOD_CUSTOMERS, GOOD_SUBSCRIPTIONS, stored

RATES = "date,currency,rate\n2024-01-01,USD,1.1\n2024-01-02,LTL,3.4528\n"
CSV_FILES = {
    ImportKind.customers: GOOD_CUSTOMERS,
    ImportKind.subscriptions: GOOD_SUBSCRIPTIONS,
    ImportKind.exchange_rates: RATES,
}


def _table(text: str) -> pa.Table:
    convert = pcsv.ConvertOptions(strings_can_be_null=True, column_types=None)
    table = pcsv.read_csv(io.BytesIO(text.encode()), convert_options=convert)
    return table.cast(pa.schema([pa.field(n, pa.string()) for n in table.column_names]))


def _jsonl(text: str) -> bytes:
    rows = _table(text).to_pylist()
    return "".join(
        json.dumps({k: v for k, v in r.items() if v is not None}) + "\n" for r in rows
    ).encode()


def _parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def _wrong_types(kind: ImportKind, fmt: str, data: st.DataObject) -> bytes:
    """A file whose cells have the wrong type: numbers, lists or objects where text is
    expected (JSON Lines), or a column of integers, booleans or lists (Parquet)."""
    table = _table(CSV_FILES[kind])
    column = data.draw(st.sampled_from(table.column_names), label="column")
    if fmt == "jsonl":
        wrong = data.draw(st.sampled_from([0, 1.5, True, [1], {"a": 1}, [None]]), label="value")
        rows = table.to_pylist()
        rows[0][column] = wrong
        return "".join(json.dumps(r) + "\n" for r in rows).encode()
    wrong_type = data.draw(
        st.sampled_from(["int64", "bool", "list", "binary", "float"]), label="type"
    )
    n = table.num_rows
    arrays = {
        "int64": pa.array(range(n), pa.int64()),
        "bool": pa.array([True] * n),
        "list": pa.array([[1]] * n, pa.list_(pa.int64())),
        "binary": pa.array([b"\x00\xff"] * n),
        "float": pa.array([float("nan")] * n),
    }
    index = table.column_names.index(column)
    return _parquet(table.set_column(index, column, arrays[wrong_type]))


@st.composite
def mutated_files(draw: st.DrawFn) -> tuple[ImportKind, str, bytes]:
    kind = draw(st.sampled_from(list(CSV_FILES)))
    fmt = draw(st.sampled_from(["csv", "jsonl", "parquet"]))
    text = CSV_FILES[kind]
    content = {
        "csv": text.encode(),
        "jsonl": _jsonl(text),
        "parquet": _parquet(_table(text)),
    }[fmt]
    how = draw(st.sampled_from(["flip", "truncate", "nul", "types", "splice"]))
    if how == "types":
        return kind, fmt, _wrong_types(kind, fmt, draw(st.data()))
    at = draw(st.integers(0, len(content) - 1))
    match how:
        case "flip":
            bit = draw(st.integers(0, 7))
            content = content[:at] + bytes([content[at] ^ (1 << bit)]) + content[at + 1 :]
        case "truncate":
            content = content[:at]
        case "nul":
            content = content[:at] + b"\x00" + content[at:]
        case "splice":
            junk = draw(st.binary(min_size=1, max_size=8))
            content = content[:at] + junk + content[at:]
    return kind, fmt, content


def _state(warehouse: Warehouse, scope: Scope) -> dict[str, list[dict[str, Any]]]:
    return {t: stored(warehouse, scope, t) for t in (CUSTOMERS, SUBSCRIPTIONS, FX_RATES)}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mutated")


@settings(
    max_examples=30,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],  # a failure is reported as drawn: no slow shrinking
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)
@given(mutated=mutated_files(), skip=st.booleans())
def test_mutated_files_import_cleanly_or_change_nothing(
    warehouse: Warehouse, folder: Path, mutated: tuple[ImportKind, str, bytes], skip: bool
) -> None:
    kind, fmt, content = mutated
    scope = Scope(f"org_mutations_{warehouse.name}", False)
    if not _state(warehouse, scope)[CUSTOMERS]:  # the scope's first data: the good files
        good = [
            ImportSource(k, _write(folder, f"good-{k.value}.csv", v.encode()), f"{k.value}.csv")
            for k, v in CSV_FILES.items()
        ]
        assert run_import(warehouse, scope, good).succeeded
    before = _state(warehouse, scope)
    name = f"{kind.value}.{fmt}"
    source = ImportSource(kind, _write(folder, f"mutated-{name}", content), name)
    outcome = run_import(
        warehouse, scope, [source], on_error=OnError.skip if skip else OnError.abort
    )
    if not outcome.succeeded:
        assert outcome.problems and outcome.problem_count >= len(outcome.problems)
        assert _state(warehouse, scope) == before  # nothing half-written
    for problem in outcome.problems:
        json.dumps(problem.as_json())  # every problem can be shown (no bytes, no surrogate)


def _write(folder: Path, name: str, content: bytes) -> Path:
    path = folder / name
    path.write_bytes(content)
    return path
