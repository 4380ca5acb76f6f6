"""``validate_records`` checks several records in one pass, each answered exactly as
``validate_record`` answers it alone (the live writes check every row they write)."""

from __future__ import annotations

from datetime import date

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from cohortd.imports.columns import SPECS, ImportKind
from cohortd.imports.parsing import RawBatch
from cohortd.imports.validation import (
    FieldProblem,
    validate_batch,
    validate_record,
    validate_records,
)

GOOD = {
    "id": "sub_1",
    "customer_id": "cus_1",
    "plan_id": "pro",
    "currency": "JPY",
    "mrr": "1200",
    "start_date": "2024-02-01",
    "end_date": "2024-03-01",
    "status": "active",
}


def test_each_record_gets_its_own_answer_by_hand() -> None:
    bad_money = {**GOOD, "id": "sub_2", "mrr": "12.5"}  # JPY has no minor unit
    backwards = {**GOOD, "id": "sub_3", "end_date": "2024-01-01"}
    blank_key = {**GOOD, "id": "  "}
    answers = validate_records(
        ImportKind.subscriptions, [GOOD, bad_money, {}, backwards, blank_key]
    )
    assert answers[0].values is not None
    assert answers[0].values["mrr_minor"] == 1200
    assert answers[0].values["end_date"] == date(2024, 3, 1)
    assert [p.column for p in answers[1].problems] == ["mrr"]
    assert answers[2].problems == (FieldProblem("id", "required value is missing"),)
    assert [p.column for p in answers[3].problems] == ["end_date"]
    assert answers[4].values is None
    assert "id" in [p.column for p in answers[4].problems]
    assert [validate_record(ImportKind.subscriptions, r) for r in (GOOD, bad_money)] == answers[:2]


fields = st.fixed_dictionaries(
    {},
    optional={
        "id": st.sampled_from(["s1", "", " ", "x" * 300]),
        "customer_id": st.sampled_from(["c1", ""]),
        "plan_id": st.sampled_from(["p", ""]),
        "currency": st.sampled_from(["USD", "JPY", "usd", "EURO", "BHD", ""]),
        "mrr": st.sampled_from(["10", "10.5", "10.555", "-1", "abc", "0", ""]),
        "start_date": st.sampled_from(["2024-01-31", "2024-02-30", "31/01/2024", ""]),
        "end_date": st.sampled_from(["2024-01-01", "2024-03-01", None]),
        "status": st.sampled_from(["active", "paused", "bogus", None]),
    },
)


@settings(max_examples=60, deadline=None)
@given(st.lists(fields, min_size=1, max_size=6))
def test_records_together_answer_as_each_alone(records: list[dict[str, object]]) -> None:
    together = validate_records(ImportKind.subscriptions, records)
    assert together == [validate_record(ImportKind.subscriptions, r) for r in records]


def test_a_row_of_blank_cells_is_blank_whatever_the_other_rows() -> None:
    """A row whose every cell is empty or whitespace is skipped as a blank line, in a
    batch whose columns hold a null elsewhere and in one whose columns hold none (a
    shortcut once took a column without a null for a column without an empty cell)."""
    spec = SPECS[ImportKind.customers]
    blank_row = {name: "  " for name in spec.names if name != "tags"}
    alone = RawBatch(
        columns={name: pa.array([value], pa.string()) for name, value in blank_row.items()},
        rows=pa.array([7], pa.int64()),
    )
    other = {"id": "cus_1", "created_at": "2024-01-01T00:00:00Z"}  # a null in the others
    with_others = RawBatch(
        columns={
            name: pa.array([value, other.get(name)], pa.string())
            for name, value in blank_row.items()
        },
        rows=pa.array([7, 8], pa.int64()),
    )
    for raw in (alone, with_others):
        checked = validate_batch(raw, spec, file="f.csv", budget=50)
        assert [p.row for p in checked.problems] == []
        assert checked.rejected == 0
    assert validate_batch(with_others, spec, file="f.csv", budget=50).good.num_rows == 1
