"""Formats: CSV quirks, gzip, Parquet, JSON Lines, and files that are not what they claim."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
from datetime import date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cohortd.warehouse import Warehouse
from tests.imports.helpers import GOOD_CUSTOMERS, GOOD_SUBSCRIPTIONS, problems, run, stored


def test_csv_values_are_normalised_and_stored(
    warehouse: Warehouse, new_scope, tmp_path: Path
) -> None:
    scope = new_scope()
    outcome = run(
        warehouse,
        scope,
        tmp_path,
        customers=("c.csv", GOOD_CUSTOMERS),
        subscriptions=("s.csv", GOOD_SUBSCRIPTIONS),
    )
    assert outcome.succeeded, problems(outcome)
    c1, c2 = stored(warehouse, scope, "customers")
    # Trimmed and lower-cased before hashing: "ann@example.com".
    assert c1["email_hashed"] == "sha256:" + hashlib.sha256(b"ann@example.com").hexdigest()
    assert c1["country"] == "DE"  # upper-cased on input
    assert c1["created_at"] == datetime(2024, 1, 15)  # a date alone is midnight UTC
    assert c2["created_at"] == datetime(2024, 2, 1, 7, 30)  # 09:30+02:00 is 07:30 UTC
    assert c2["email"] is None and c2["email_hashed"] is None
    s1, s2 = stored(warehouse, scope, "subscriptions")
    # 19.99 USD = 1999 cents; JPY has no minor unit: 1000 JPY = 1000.
    assert (s1["mrr_minor"], s1["end_date"]) == (1999, None)
    assert (s2["mrr_minor"], s2["end_date"]) == (1000, date(2024, 3, 1))


def test_bom_crlf_quotes_and_quoted_newlines(
    warehouse: Warehouse, new_scope, tmp_path: Path
) -> None:
    scope = new_scope()
    body = (
        "\ufeffid,name,tags,created_at\r\n"
        'c1,"Acme, ""Inc""",a; b;;c ,2024-01-01\r\n'
        'c2,"two\r\nlines",,2024-01-01\r\n'
        "\r\n"
        "c3,Gamma,,someday\r\n"
    )
    outcome = run(warehouse, scope, tmp_path, customers=("c.csv", body))
    # Row 2 = c1; c2's quoted newline stays row 3; the blank line is row 4; c3 is row 5.
    assert problems(outcome) == [
        ("c.csv", 5, "created_at", "someday", "not an ISO 8601 date or timestamp")
    ]
    fixed = body.replace("someday", "2024-01-01")
    assert run(warehouse, scope, tmp_path, customers=("c.csv", fixed)).succeeded
    c1, c2, c3 = stored(warehouse, scope, "customers")
    assert c1["name"] == 'Acme, "Inc"'
    assert c1["tags"] == ["a", "b", "c"]  # split on ";", trimmed, empties dropped
    assert c2["name"] == "two\r\nlines"
    assert c2["tags"] == [] and c3["id"] == "c3"


def test_formula_cells_are_stored_as_given(warehouse: Warehouse, new_scope, tmp_path: Path) -> None:
    scope = new_scope()
    body = 'id,name,industry,created_at\nc1,"=HYPERLINK(""http://x"")",+1,2024-01-01\nc2,@SUM(A1),-2,2024-01-01\n'
    assert run(warehouse, scope, tmp_path, customers=("c.csv", body)).succeeded
    rows = stored(warehouse, scope, "customers")
    assert [(r["name"], r["industry"]) for r in rows] == [
        ('=HYPERLINK("http://x")', "+1"),
        ("@SUM(A1)", "-2"),
    ]


@pytest.mark.parametrize("name", ["c.csv.gz", "c.csv"])
def test_gzip_is_detected_by_magic_bytes(
    warehouse: Warehouse, new_scope, tmp_path: Path, name: str
) -> None:
    scope = new_scope()
    outcome = run(
        warehouse, scope, tmp_path, customers=(name, gzip.compress(GOOD_CUSTOMERS.encode()))
    )
    assert outcome.succeeded, problems(outcome)
    assert [c["id"] for c in stored(warehouse, scope, "customers")] == ["c1", "c2"]


def _parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def test_parquet_with_native_types(warehouse: Warehouse, new_scope, tmp_path: Path) -> None:
    scope = new_scope()
    customers = pa.table(
        {
            "id": ["c1", "c2", "c3"],
            "tags": [["a", "b"], [], None],
            "health_score": [50.0, None, 120.0],
            "created_at": pa.array(
                [datetime(2024, 1, 1, 12), datetime(2024, 1, 2), datetime(2024, 1, 3)],
                pa.timestamp("us", "UTC"),
            ),
        }
    )
    subs = pa.table(
        {
            "id": ["s1"],
            "customer_id": ["c1"],
            "currency": ["EUR"],
            "mrr": [19.99],  # a double: read through its shortest repr, 19.99 -> 1999
            "start_date": pa.array([date(2024, 1, 1)], pa.date32()),
        }
    )
    outcome = run(
        warehouse,
        scope,
        tmp_path,
        customers=("c.parquet", _parquet(customers)),
        subscriptions=("s.parquet", _parquet(subs)),
    )
    # Parquet rows are numbered like CSV ones: header row 1, c3 is row 4.
    assert problems(outcome) == [
        ("c.parquet", 4, "health_score", "120.0", "must be between 0 and 100")
    ]
    fixed = customers.set_column(2, "health_score", pa.array([50.0, None, 12.5]))
    outcome = run(
        warehouse,
        scope,
        tmp_path,
        customers=("c.parquet.gz", gzip.compress(_parquet(fixed))),
        subscriptions=("s.parquet", _parquet(subs)),
    )
    assert outcome.succeeded, problems(outcome)
    c1 = stored(warehouse, scope, "customers")[0]
    assert (c1["tags"], c1["created_at"]) == (["a", "b"], datetime(2024, 1, 1, 12))
    assert stored(warehouse, scope, "subscriptions")[0]["mrr_minor"] == 1999


def test_json_lines(warehouse: Warehouse, new_scope, tmp_path: Path) -> None:
    scope = new_scope()
    lines = [
        {"id": "c1", "tags": ["x", "y"], "metadata": {"plan": "gold"}, "created_at": "2024-01-01"},
        {"id": "c2", "engagement_score": 0.25, "created_at": "2024-01-01"},
        {"id": "c3", "name": {"first": "A"}, "created_at": "2024-01-01"},
        {"id": "c4", "colour": "red", "created_at": "2024-01-01"},
    ]
    body = "\n".join(json.dumps(line) for line in lines) + "\n\nnot json\n"
    outcome = run(warehouse, scope, tmp_path, customers=("c.jsonl", body))
    # JSON Lines rows are line numbers: c3 is line 3, c4 line 4, the bad line is line 6.
    assert problems(outcome) == [
        ("c.jsonl", 3, "name", '{"first": "A"}', "wrong type: expected a string or number"),
        ("c.jsonl", 4, "colour", None, "unknown column"),
        ("c.jsonl", 6, None, None, "not valid JSON"),
    ]
    good = "\n".join(json.dumps(line) for line in lines[:2])
    assert run(warehouse, scope, tmp_path, customers=("c.jsonl", good)).succeeded
    c1, c2 = stored(warehouse, scope, "customers")
    assert (c1["tags"], json.loads(c1["metadata"])) == (["x", "y"], {"plan": "gold"})
    assert c2["engagement_score"] == 0.25


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("c.csv", b"", "the file is empty"),
        ("c.csv", b"\xef\xbb\xbf\n", "the file is empty"),
        ("c.csv.gz", gzip.compress(b""), "the file is empty"),
        (
            "c.parquet",
            b"id,created_at\nc1,2024-01-01\n",
            "the file is named as Parquet but is not a Parquet file",
        ),
        (
            "c.csv",
            _parquet(pa.table({"id": ["c1"]})),
            "the file is named as CSV but is a Parquet file",
        ),
        ("c.csv.gz", b"id,created_at\n", "the file is named .gz but is not gzip-compressed"),
        (
            "c.jsonl",
            b"id,created_at\n",
            "the file is named as JSON Lines but does not start with a JSON object",
        ),
        ("c.csv", b"id,created_at\n\xff\xfe,2024-01-01\n", "the file is not valid UTF-8 text"),
        (
            "c.csv",
            b"id,created_at\nc1,2024-01-01,extra\n",
            "line 2: 3 fields where the header has 2",
        ),
    ],
)
def test_bad_files_are_rejected_whole(
    warehouse: Warehouse, new_scope, tmp_path: Path, name: str, content: bytes, reason: str
) -> None:
    scope = new_scope()
    outcome = run(warehouse, scope, tmp_path, customers=(name, content))
    assert not outcome.succeeded
    assert [p.reason for p in outcome.problems] == [reason]
    assert outcome.problems[0].file == name
    assert stored(warehouse, scope, "customers") == []


def test_parquet_typed_columns_are_checked_too(
    warehouse: Warehouse, new_scope, tmp_path: Path
) -> None:
    scope = new_scope()
    customers = pa.table(
        {
            "id": ["c1", "c2", "c3"],
            "engagement_score": [0.5, float("nan"), 1.5],
            # A naive Parquet timestamp is UTC, like a CSV value without an offset.
            "created_at": pa.array([datetime(2024, 3, 1, 8)] * 3, pa.timestamp("ms")),
        }
    )
    outcome = run(warehouse, scope, tmp_path, customers=("c.parquet", _parquet(customers)))
    # Row 3 = c2 (NaN), row 4 = c3 (1.5 > 1).
    assert problems(outcome) == [
        ("c.parquet", 3, "engagement_score", "nan", "not a number"),
        ("c.parquet", 4, "engagement_score", "1.5", "must be between 0 and 1"),
    ]
    assert stored(warehouse, scope, "customers") == []
    fixed = customers.set_column(1, "engagement_score", pa.array([0.5, None, 1.0]))
    assert run(warehouse, scope, tmp_path, customers=("c.parquet", _parquet(fixed))).succeeded
    c1 = stored(warehouse, scope, "customers")[0]
    assert (c1["engagement_score"], c1["created_at"]) == (0.5, datetime(2024, 3, 1, 8))
