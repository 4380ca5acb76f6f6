"""Every bad-input case of issue #3: the exact problem (file, row, column, value, reason)
and nothing written, on DuckDB and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from cohortd.imports.columns import SPECS, ImportKind
from cohortd.warehouse import Scope, Warehouse
from tests.imports.helpers import GOOD_CUSTOMERS, problems, run, stored

C_HEAD = (
    "id,name,email,country,currency,status,engagement_score,health_score,risk_score,"
    "created_at,metadata"
)
S_HEAD = "id,customer_id,plan_id,currency,mrr,start_date,end_date,status"
UNKNOWN_CUSTOMER = "unknown customer (not in this import nor already stored)"


def customer_row(**cells: str) -> str:
    values = {"id": "c1", "created_at": "2024-01-01", **cells}
    return ",".join(values.get(name, "") for name in C_HEAD.split(",")) + "\n"


def sub_row(**cells: str) -> str:
    values = {
        "id": "s1",
        "customer_id": "c1",
        "currency": "USD",
        "mrr": "10",
        "start_date": "2024-01-01",
        **cells,
    }
    return ",".join(values.get(name, "") for name in S_HEAD.split(",")) + "\n"


def assert_nothing_written(warehouse: Warehouse, scope: Scope) -> None:
    for table in ("customers", "subscriptions", "fx_rates"):
        assert stored(warehouse, scope, table) == []


# (cells of the one customer row, column, value shown, reason). Row 2 = first data row.
CUSTOMER_CASES = [
    ({"engagement_score": "high"}, "engagement_score", "high", "not a number"),
    ({"engagement_score": "1.5"}, "engagement_score", "1.5", "must be between 0 and 1"),
    ({"health_score": "-1"}, "health_score", "-1", "must be between 0 and 100"),
    ({"risk_score": "100.5"}, "risk_score", "100.5", "must be between 0 and 100"),
    ({"created_at": "yesterday"}, "created_at", "yesterday", "not an ISO 8601 date or timestamp"),
    # 2023 is not a leap year: the shape is right, the day does not exist.
    ({"created_at": "2023-02-29"}, "created_at", "2023-02-29", "impossible date or time"),
    ({"created_at": ""}, "created_at", None, "required value is missing"),
    ({"id": "x" * 256}, "id", "x" * 120 + "…", "longer than 255 characters"),
    ({"country": "XX"}, "country", "XX", "not an ISO 3166-1 alpha-2 country code"),
    ({"country": "DEU"}, "country", "DEU", "not an ISO 3166-1 alpha-2 country code"),
    ({"currency": "EURO"}, "currency", "EURO", "not an ISO 4217 currency code"),
    (
        {"status": "vip"},
        "status",
        "vip",
        "unknown status (expected one of: active, trialing, paused, cancelled, lapsed)",
    ),
    # An email is never echoed, not even a malformed one.
    ({"email": "ann.example.com"}, "email", "***@***", "not an email address"),
    ({"metadata": '"[1]"'}, "metadata", "[1]", "not a JSON object"),
]


@pytest.mark.parametrize(("cells", "column", "value", "reason"), CUSTOMER_CASES)
def test_customer_cell_errors(
    warehouse: Warehouse, new_scope, tmp_path: Path, cells, column, value, reason
) -> None:
    scope = new_scope()
    outcome = run(
        warehouse, scope, tmp_path, customers=("c.csv", C_HEAD + "\n" + customer_row(**cells))
    )
    assert not outcome.succeeded
    assert problems(outcome) == [("c.csv", 2, column, value, reason)]
    assert_nothing_written(warehouse, scope)


# Subscription rows; c1 comes in the same import. Row 2 = first data row.
SUBSCRIPTION_CASES = [
    ({"mrr": "-5.00"}, "mrr", "-5.00", "negative MRR"),
    ({"mrr": "ten"}, "mrr", "ten", "not a decimal number"),
    # USD has 2 decimals, JPY 0, KWD 3 (ISO 4217).
    ({"mrr": "19.999"}, "mrr", "19.999", "more decimals than the currency allows (2)"),
    (
        {"mrr": "100.5", "currency": "JPY"},
        "mrr",
        "100.5",
        "more decimals than the currency allows (0)",
    ),
    (
        {"mrr": "1.2345", "currency": "KWD"},
        "mrr",
        "1.2345",
        "more decimals than the currency allows (3)",
    ),
    ({"mrr": ""}, "mrr", None, "required value is missing"),
    ({"currency": "XYZ"}, "currency", "XYZ", "not an ISO 4217 currency code"),
    ({"start_date": "2024-13-01"}, "start_date", "2024-13-01", "impossible date"),
    ({"start_date": "01/02/2024"}, "start_date", "01/02/2024", "not a date (YYYY-MM-DD)"),
    (
        {"end_date": "2024-01-01"},
        "end_date",
        "2024-01-01",
        "end_date must be after start_date",
    ),
    ({"end_date": "2023-12-31"}, "end_date", "2023-12-31", "end_date must be after start_date"),
    (
        {"status": "gone"},
        "status",
        "gone",
        "unknown status (expected one of: active, trialing, paused, cancelled, lapsed)",
    ),
    ({"customer_id": "c9"}, "customer_id", "c9", UNKNOWN_CUSTOMER),
]


@pytest.mark.parametrize(("cells", "column", "value", "reason"), SUBSCRIPTION_CASES)
def test_subscription_cell_errors(
    warehouse: Warehouse, new_scope, tmp_path: Path, cells, column, value, reason
) -> None:
    scope = new_scope()
    outcome = run(
        warehouse,
        scope,
        tmp_path,
        customers=("c.csv", C_HEAD + "\n" + customer_row()),
        subscriptions=("s.csv", S_HEAD + "\n" + sub_row(**cells)),
    )
    assert not outcome.succeeded
    assert problems(outcome) == [("s.csv", 2, column, value, reason)]
    assert_nothing_written(warehouse, scope)


def test_unknown_and_missing_columns_reject_the_file(
    warehouse: Warehouse, new_scope, tmp_path: Path
) -> None:
    scope = new_scope()
    outcome = run(warehouse, scope, tmp_path, customers=("c.csv", "id,colour,name\nc1,red,A\n"))
    expected_names = ", ".join(SPECS[ImportKind.customers].names)
    assert problems(outcome) == [
        ("c.csv", 1, "colour", None, f"unknown column (expected some of: {expected_names})"),
        ("c.csv", 1, "created_at", None, "required column is missing"),
    ]
    assert_nothing_written(warehouse, scope)


def test_duplicate_ids_in_one_file(warehouse: Warehouse, new_scope, tmp_path: Path) -> None:
    scope = new_scope()
    body = "id,created_at\nc1,2024-01-01\nc2,2024-01-01\nc1,2024-02-01\n"
    outcome = run(warehouse, scope, tmp_path, customers=("c.csv", body))
    # c1 is on rows 2 and 4: the second one is the problem, pointing at the first.
    assert problems(outcome) == [("c.csv", 4, "id", "c1", "duplicate id (first in row 2)")]
    assert_nothing_written(warehouse, scope)


def test_key_hashes_spare_the_duplicate_query_and_never_decide_a_duplicate(
    warehouse: Warehouse, new_scope, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Distinct keys: no query. Hashes alike (forced here: every key hashes to 7) are only
    a suspicion: the exact query finds no duplicate and the import goes through; a real
    duplicate is still named. Past ``MAX_HASHED`` keys the query decides."""
    import numpy as np

    from cohortd.imports import cells, pipeline
    from cohortd.warehouse.staging import Staging

    queried: list[str] = []
    exact = Staging.duplicates

    def counted(self: Staging, staged, *, limit: int):  # type: ignore[no-untyped-def]
        queried.append(staged.target)
        return exact(self, staged, limit=limit)

    monkeypatch.setattr(Staging, "duplicates", counted)
    body = "id,created_at\nc1,2024-01-01\nc2,2024-01-01\nc3,2024-01-01\n"
    assert run(warehouse, new_scope(), tmp_path, customers=("c.csv", body)).succeeded
    assert queried == []

    real_hashes = cells.key_hashes
    monkeypatch.setattr(cells, "key_hashes", lambda rows, key: np.full(rows.num_rows, 7, np.uint64))
    assert run(warehouse, new_scope(), tmp_path, customers=("c.csv", body)).succeeded
    assert queried == ["customers"]
    twice = body + "c2,2024-03-01\n"
    outcome = run(warehouse, new_scope(), tmp_path, customers=("c.csv", twice))
    assert problems(outcome) == [("c.csv", 5, "id", "c2", "duplicate id (first in row 3)")]

    monkeypatch.setattr(cells, "key_hashes", real_hashes)
    monkeypatch.setattr(pipeline.KeyHashes, "MAX_HASHED", 2)
    queried.clear()
    scope = new_scope()
    assert run(warehouse, scope, tmp_path, customers=("c.csv", body)).succeeded
    assert queried == ["customers"]
    outcome = run(warehouse, new_scope(), tmp_path, customers=("c.csv", twice))
    assert problems(outcome) == [("c.csv", 5, "id", "c2", "duplicate id (first in row 3)")]


def test_duplicate_rates_in_one_file(warehouse: Warehouse, new_scope, tmp_path: Path) -> None:
    scope = new_scope()
    body = "date,currency,rate\n2024-01-01,USD,1.1\n2024-01-01,usd,1.2\n"
    outcome = run(warehouse, scope, tmp_path, exchange_rates=("fx.csv", body))
    # usd is upper-cased on input, so row 3 repeats row 2's (date, currency).
    assert problems(outcome) == [
        ("fx.csv", 3, "date,currency", "2024-01-01/USD", "duplicate date+currency (first in row 2)")
    ]
    assert_nothing_written(warehouse, scope)


@pytest.mark.parametrize(
    ("rate", "reason"),
    [
        ("0", "must be greater than 0"),
        ("-1.1", "not a positive decimal number"),
        ("1.12345678901", "more than 10 decimals"),
        ("abc", "not a positive decimal number"),
    ],
)
def test_bad_rates(warehouse: Warehouse, new_scope, tmp_path: Path, rate, reason) -> None:
    scope = new_scope()
    body = f"date,currency,rate\n2024-01-01,USD,{rate}\n"
    outcome = run(warehouse, scope, tmp_path, exchange_rates=("fx.csv", body))
    assert problems(outcome) == [("fx.csv", 2, "rate", rate, reason)]
    assert_nothing_written(warehouse, scope)


def test_subscription_of_a_stored_customer_is_known(
    warehouse: Warehouse, new_scope, tmp_path: Path
) -> None:
    scope = new_scope()
    assert run(warehouse, scope, tmp_path, customers=("c.csv", GOOD_CUSTOMERS)).succeeded
    outcome = run(
        warehouse,
        scope,
        tmp_path,
        subscriptions=("s.csv", S_HEAD + "\n" + sub_row(customer_id="c2")),
    )
    assert outcome.succeeded, problems(outcome)
    assert [s["customer_id"] for s in stored(warehouse, scope, "subscriptions")] == ["c2"]


def test_customer_of_another_scope_is_unknown(
    warehouse: Warehouse, new_scope, tmp_path: Path
) -> None:
    other, scope = new_scope(), new_scope()
    assert run(warehouse, other, tmp_path, customers=("c.csv", GOOD_CUSTOMERS)).succeeded
    outcome = run(warehouse, scope, tmp_path, subscriptions=("s.csv", S_HEAD + "\n" + sub_row()))
    assert problems(outcome) == [("s.csv", 2, "customer_id", "c1", UNKNOWN_CUSTOMER)]
    assert_nothing_written(warehouse, scope)


def test_many_problems_report_the_first_100(
    warehouse: Warehouse, new_scope, tmp_path: Path
) -> None:
    scope = new_scope()
    body = "id,created_at\n" + "".join(f"c{i},never\n" for i in range(250))
    outcome = run(warehouse, scope, tmp_path, customers=("c.csv", body))
    # 250 bad rows (rows 2..251): 250 counted, rows 2..101 listed.
    assert outcome.problem_count == 250
    assert [p.row for p in outcome.problems] == list(range(2, 102))
    assert_nothing_written(warehouse, scope)


def test_key_hashes_answer_once_and_let_go() -> None:
    import numpy as np

    from cohortd.imports.pipeline import KeyHashes

    assert KeyHashes().distinct()  # no keys, no duplicate
    hashes = KeyHashes()
    hashes.add(np.array([5, 1, 9], np.uint64))
    hashes.add(np.array([2, 8], np.uint64))
    assert hashes.distinct() and hashes.parts == [] and hashes.distinct()
    alike = KeyHashes()
    alike.add(np.array([5, 1], np.uint64))
    alike.add(np.array([7, 5], np.uint64))
    assert not alike.distinct() and not alike.distinct()
