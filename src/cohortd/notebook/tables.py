"""Answers as typed Arrow tables: one column kind per field, money exact.

Money and percentages arrive as the API's JSON numbers (already rounded to 2 decimals,
half away from zero); they become ``decimal128(20, 2)`` from their shortest decimal
text, so ``12.34`` is stored as exactly 12.34.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Final

import pyarrow as pa

CENT: Final = Decimal("0.01")
MONEY: Final = pa.decimal128(20, 2)


class Kind(StrEnum):
    text = "text"
    integer = "integer"
    money = "money"  # also percentages and ratios: 2 decimals
    flag = "flag"
    day = "day"
    moment = "moment"
    json = "json"


_TYPES: Final[dict[Kind, pa.DataType]] = {
    Kind.text: pa.string(),
    Kind.integer: pa.int64(),
    Kind.money: MONEY,
    Kind.flag: pa.bool_(),
    Kind.day: pa.date32(),
    Kind.moment: pa.timestamp("us", tz="UTC"),
    Kind.json: pa.string(),
}


def exact(value: Any) -> Decimal | None:
    """A JSON number (or decimal text) as the decimal it reads as: ``0.1`` → ``0.10``."""
    if value is None:
        return None
    # a float's repr is its shortest round-tripping text: 0.1 reads "0.1", not 0.1000...055
    number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    return number.quantize(CENT)


def _cell(kind: Kind, value: Any) -> Any:
    if value is None:
        return None
    match kind:
        case Kind.money:
            return exact(value)
        case Kind.day:
            return value if isinstance(value, date) else date.fromisoformat(str(value))
        case Kind.moment:
            if isinstance(value, datetime):
                return value
            return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        case Kind.json:
            return json.dumps(value, sort_keys=True, default=str)
        case Kind.integer:
            return int(value)
        case Kind.flag:
            return bool(value)
        case Kind.text:
            return str(value)


def table(rows: Iterable[Mapping[str, Any]], columns: Sequence[tuple[str, Kind]]) -> pa.Table:
    """An Arrow table with exactly ``columns`` (absent fields are null)."""
    listed = list(rows)
    arrays = {
        name: pa.array([_cell(kind, row.get(name)) for row in listed], type=_TYPES[kind])
        for name, kind in columns
    }
    schema = pa.schema([(name, _TYPES[kind]) for name, kind in columns])
    return pa.table(arrays, schema=schema)


def as_floats(exact_table: pa.Table) -> pa.Table:
    """Decimal columns as float64 (the nearest double, as JSON readers see them)."""
    fields = [
        pa.field(f.name, pa.float64()) if pa.types.is_decimal(f.type) else f
        for f in exact_table.schema
    ]
    return exact_table.cast(pa.schema(fields))
