"""Row validation of one batch: typed columns for the good rows, problems for the rest.

Per-cell checks are vectorised (``cells``); a problem is kept with its file, row, column,
masked value and reason. Checks that span the whole file (duplicate ids, unknown
customers) run later on the staged rows (``cohortd.warehouse.staging``).

``validate_record`` puts one row given as values (an API body: ``POST /v1/subscribers``,
``POST /v1/subscriptions``, an override's new row) through the very same checks, so a
row is valid through the API exactly when it is valid in a file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from cohortd.imports import cells
from cohortd.imports.columns import (
    CUSTOMER_STATUSES,
    SPECS,
    SUBSCRIPTION_STATUSES,
    CellKind,
    ImportKind,
    KindSpec,
)
from cohortd.imports.parsing import RawBatch
from cohortd.imports.problems import ImportProblem

ROW_COLUMN = "_row"


@dataclass(slots=True)
class ValidatedBatch:
    """The batch's good rows (target columns + ``_row``) and its problems (capped)."""

    good: pa.Table
    problems: list[ImportProblem] = field(default_factory=list)
    problem_count: int = 0
    rejected: int = 0


@dataclass(slots=True)
class _Failure:
    column: str
    mask: pa.Array
    reason: str


def validate_batch(raw: RawBatch, spec: KindSpec, *, file: str, budget: int) -> ValidatedBatch:
    """Check every cell of ``raw``; keep at most ``budget`` problems, count them all."""
    n = raw.num_rows
    typed: dict[str, pa.Array] = {}
    failures: list[_Failure] = []
    for column in spec.columns:
        source = raw.columns.get(column.name, pa.nulls(n, pa.string()))
        parsed = _parse(column.kind, source, typed)
        typed[column.name] = parsed.values
        failures += [_Failure(column.name, mask, reason) for mask, reason in parsed.failures]
        if column.required:
            failures.append(_Failure(column.name, pc.is_null(source), "required value is missing"))
    failures += _cross_checks(spec.kind, typed)
    flagged = _flagged(raw, n)
    blank = _blank_rows(raw, n)
    bad = _first_reason_per_cell(failures, pc.or_(flagged, blank), n)
    problems, count = _problems(raw, bad, spec, file=file, budget=budget)
    row_bad = flagged
    for failure in bad:
        row_bad = pc.or_(row_bad, failure.mask)
    keep = pc.and_(pc.invert(row_bad), pc.invert(blank))
    good = _target_table(spec, typed, raw.rows)
    if not pc.all(keep).as_py():  # filtering copies every column: only when needed
        good = good.filter(keep)
    rejected = pc.sum(pc.and_(row_bad, pc.invert(blank))).as_py() or 0
    reader_problems = [
        ImportProblem.at(
            file=file, kind=spec.kind.value, row=row, column=col, value=value, reason=reason
        )
        for row, col, value, reason in raw.problems
    ]
    all_problems = sorted(reader_problems + problems, key=ImportProblem.sort_key)[:budget]
    return ValidatedBatch(good, all_problems, count + len(raw.problems), rejected)


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """What is wrong with one field of a record: its column and the import's reason."""

    column: str
    reason: str


@dataclass(frozen=True, slots=True)
class CheckedRecord:
    """A record's typed values (the warehouse's columns, ``mrr`` as ``mrr_minor``) or
    its problems (one per field, in column order)."""

    values: dict[str, Any] | None
    problems: tuple[FieldProblem, ...] = ()


def validate_record(kind: ImportKind, record: Mapping[str, object]) -> CheckedRecord:
    """One row given as values through ``validate_batch``: each value as the text a file
    would hold (numbers as written, ``tags`` as a list, ``metadata`` as JSON text); an
    absent key is an empty cell."""
    return validate_records(kind, [record])[0]


def validate_records(
    kind: ImportKind, records: Sequence[Mapping[str, object]]
) -> list[CheckedRecord]:
    """Several records, each checked as ``validate_record`` checks it, through one
    ``validate_batch`` (its Arrow checks cost about the same for a few rows as for one:
    a live write checks every row it writes)."""
    spec = SPECS[kind]
    columns: dict[str, pa.Array] = {}
    for column in spec.columns:
        given = [record.get(column.name) for record in records]
        if column.kind is CellKind.tags:
            tags = [None if v is None else [str(t) for t in v] for v in given]  # type: ignore[attr-defined]
            columns[column.name] = pa.array(tags, pa.list_(pa.string()))
            continue
        if column.kind is CellKind.json_object:
            given = [json.dumps(v) if isinstance(v, dict | list) else v for v in given]
        columns[column.name] = pa.array([None if v is None else str(v) for v in given], pa.string())
    raw = RawBatch(columns=columns, rows=pa.array(range(1, len(records) + 1), pa.int64()))
    checked = validate_batch(raw, spec, file="body", budget=len(spec.columns) * len(records))
    problems: dict[int, list[FieldProblem]] = {}
    for problem in checked.problems:
        problems.setdefault(problem.row or 0, []).append(
            FieldProblem(problem.column or "", problem.reason)
        )
    good = checked.good.to_pylist()
    values_at = {values.pop(ROW_COLUMN): values for values in good}
    return [
        _checked(spec, record, problems.get(row, []), values_at.get(row))
        for row, record in enumerate(records, start=1)
    ]


def _checked(
    spec: KindSpec,
    record: Mapping[str, object],
    problems: list[FieldProblem],
    values: dict[str, Any] | None,
) -> CheckedRecord:
    if problems:
        return CheckedRecord(None, tuple(problems))
    if values is None:  # nothing given at all: a blank row
        return CheckedRecord(None, (FieldProblem(spec.required[0], "required value is missing"),))
    # an empty key reads as absent; a file's row has it checked with the keys, a single
    # record here
    missing = tuple(
        FieldProblem(name, "required value is missing")
        for name in spec.required
        if record.get(name) is None or str(record.get(name)).strip() == ""
    )
    if missing:
        return CheckedRecord(None, missing)
    return CheckedRecord(values)


def _parse(kind: CellKind, source: pa.Array, typed: dict[str, pa.Array]) -> cells.Parsed:
    match kind:
        case CellKind.key:
            return cells.key(source)
        case CellKind.text:
            return cells.text(source)
        case CellKind.email:
            return cells.email(source)
        case CellKind.country:
            return cells.country(source)
        case CellKind.currency:
            return cells.currency(source)
        case CellKind.rate_currency:
            return cells.rate_currency(source)
        case CellKind.customer_status:
            return cells.status(source, CUSTOMER_STATUSES)
        case CellKind.subscription_status:
            return cells.status(source, SUBSCRIPTION_STATUSES)
        case CellKind.tags:
            return cells.Parsed(cells.tags(source))
        case CellKind.unit_score:
            return cells.score(source, high=1.0)
        case CellKind.percent_score:
            return cells.score(source, high=100.0)
        case CellKind.timestamp:
            return cells.timestamp(source)
        case CellKind.date:
            return cells.date_(source)
        case CellKind.json_object:
            return cells.json_object(source)
        case CellKind.money:
            return cells.money(source, typed["currency"])
        case CellKind.rate:
            return cells.rate(source)


def _cross_checks(kind: ImportKind, typed: dict[str, pa.Array]) -> list[_Failure]:
    if kind is not ImportKind.subscriptions:
        return []
    not_after = pc.less_equal(typed["end_date"], typed["start_date"])
    return [
        _Failure("end_date", pc.fill_null(not_after, False), "end_date must be after start_date")
    ]


def _flagged(raw: RawBatch, n: int) -> pa.Array:
    marked = set(raw.flagged_rows)
    for indices in raw.flagged_cells.values():
        marked |= indices
    return (
        pa.array([i in marked for i in range(n)], pa.bool_())
        if marked
        else pa.nulls(n, pa.bool_()).fill_null(False)
    )


def _first_reason_per_cell(failures: list[_Failure], flagged: pa.Array, n: int) -> list[_Failure]:
    """One reason per cell (the first that applies); rows the reader flagged are not re-reported."""
    taken: dict[str, pa.Array] = {}
    kept: list[_Failure] = []
    for failure in failures:
        already = taken.get(failure.column, flagged)
        mask = pc.and_(failure.mask, pc.invert(already))
        if pc.any(mask).as_py():
            kept.append(_Failure(failure.column, mask, failure.reason))
        taken[failure.column] = pc.or_(already, mask)
    return kept


def _blank_rows(raw: RawBatch, n: int) -> pa.Array:
    """A CSV line with no value at all is skipped (it still counts as a row number)."""
    blank = pa.nulls(n, pa.bool_()).fill_null(True)
    # a column without an empty cell (whitespace is empty): no row is blank; one such
    # column is looked for among those without a null, which most files' key column is
    for column in raw.columns.values():
        if pa.types.is_list(column.type) or column.null_count:
            continue
        if not pa.types.is_string(column.type) or cells.blank_to_null(column).null_count == 0:
            return pc.invert(blank)
        break
    for column in raw.columns.values():
        if pa.types.is_list(column.type):
            empty = pc.fill_null(pc.equal(pc.list_value_length(column), 0), True)
        elif pa.types.is_string(column.type):
            empty = pc.is_null(cells.blank_to_null(column))
        else:
            empty = pc.is_null(column)
        blank = pc.and_(blank, empty)
    return blank


def _problems(
    raw: RawBatch, bad: list[_Failure], spec: KindSpec, *, file: str, budget: int
) -> tuple[list[ImportProblem], int]:
    problems: list[ImportProblem] = []
    count = 0
    for failure in bad:
        indices = pc.indices_nonzero(failure.mask)
        count += len(indices)
        shown = indices[:budget]
        rows = pc.take(raw.rows, shown).to_pylist()
        source = raw.columns.get(failure.column)
        values = [None] * len(rows) if source is None else _as_text(pc.take(source, shown))
        problems += [
            ImportProblem.at(
                file=file,
                kind=spec.kind.value,
                row=row,
                column=failure.column,
                value=value,
                reason=failure.reason,
            )
            for row, value in zip(rows, values, strict=True)
        ]
    order = {name: i for i, name in enumerate(spec.names)}
    problems.sort(key=lambda p: (p.row or 0, order.get(p.column or "", 0)))
    return problems[:budget], count


def _as_text(values: pa.Array) -> list[str | None]:
    if pa.types.is_list(values.type):
        return [None if v is None else ";".join(v) for v in values.to_pylist()]
    return [None if v is None else str(v) for v in values.to_pylist()]


def _target_table(spec: KindSpec, typed: dict[str, pa.Array], rows: pa.Array) -> pa.Table:
    """The warehouse table's columns (minus ``org_id``/``livemode``) plus ``_row``."""
    match spec.kind:
        case ImportKind.customers:
            columns = dict(typed)
            columns["email_hashed"] = cells.email_hashed(typed["email"])
            order = [*spec.names[:3], "email_hashed", *spec.names[3:]]
            arrays = {name: columns[name] for name in order}
        case ImportKind.subscriptions:
            arrays = {("mrr_minor" if k == "mrr" else k): v for k, v in typed.items()}
        case ImportKind.exchange_rates:
            arrays = dict(typed)
    arrays[ROW_COLUMN] = rows
    return pa.table(arrays)
