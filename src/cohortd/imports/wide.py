"""The ECB's wide layout of exchange rates: ``Date,USD,JPY,...`` with one column per
currency, ``N/A`` where a series has no rate that day, and usually a trailing empty
column (``eurofxref-hist.csv`` ends every line with a comma).

``is_wide`` recognises it from the header alone; ``long_batch`` turns one batch of wide
rows into the long ``date, currency, rate`` rows the exchange-rate import validates, each
keeping the spreadsheet row number of the line it came from.
"""

from __future__ import annotations

from typing import Final

import pyarrow as pa
import pyarrow.compute as pc

from cohortd.engine.money import RATE_CURRENCIES
from cohortd.imports.problems import FileProblem

_NO_RATE: Final = "N/A"
_LONG_NAMES: Final = frozenset({"currency", "rate"})


def is_wide(names: list[str]) -> bool:
    """A first column ``Date`` (any case) and no ``currency``/``rate`` column: one column
    per currency. Anything else is read as the long layout (and its header checked)."""
    lowered = [name.strip().lower() for name in names]
    return len(lowered) >= 2 and lowered[0] == "date" and not _LONG_NAMES.intersection(lowered[1:])


def check_wide_header(names: list[str]) -> None:
    """Every named column after ``Date`` is an ISO 4217 code (active or historic), once."""
    items: list[tuple[int | None, str | None, str]] = []
    seen: set[str] = set()
    for name in names[1:]:
        code = name.strip().upper()
        if not code:
            continue  # an unnamed column must stay empty (``long_batch`` checks)
        if code in seen:
            items.append((1, name, "duplicate column"))
        elif code not in RATE_CURRENCIES:
            items.append((1, name, "not an ISO 4217 currency code"))
        seen.add(code)
    if items:
        raise FileProblem.many(items)


def long_batch(
    names: list[str], columns: list[pa.Array], rows: pa.Array
) -> tuple[dict[str, pa.Array], pa.Array]:
    """One wide batch (the file's columns in order, cells as strings, empty cells null)
    as long ``date, currency, rate`` columns and their row numbers, ordered by row then
    by the file's column order. A ``N/A`` or empty cell is no rate; a value under an
    unnamed column is a file problem."""
    dates = columns[0]
    parts: dict[str, list[pa.Array]] = {"date": [], "currency": [], "rate": [], "row": []}
    orders: list[pa.Array] = []
    for position, name in enumerate(names[1:], start=1):
        cells = pc.utf8_trim_whitespace(columns[position])
        given = pc.and_(pc.is_valid(cells), pc.not_equal(cells, ""))
        given = pc.fill_null(pc.and_(given, pc.not_equal(pc.utf8_upper(cells), _NO_RATE)), False)
        indices = pc.indices_nonzero(given)
        if len(indices) == 0:
            continue
        code = name.strip().upper()
        if not code:
            row = pc.take(rows, indices)[0].as_py()
            raise FileProblem(f"column {position + 1} has no header but holds a value", row=row)
        parts["date"].append(pc.take(dates, indices))
        parts["currency"].append(pa.array([code] * len(indices), pa.string()))
        parts["rate"].append(pc.take(cells, indices))
        parts["row"].append(pc.take(rows, indices))
        orders.append(pa.array([position] * len(indices), pa.int32()))
    if not orders:
        empty = pa.array([], pa.string())
        return {"date": empty, "currency": empty, "rate": empty}, pa.array([], pa.int64())
    table = pa.table(
        {
            **{key: pa.concat_arrays(arrays) for key, arrays in parts.items()},
            "_order": pa.concat_arrays(orders),
        }
    )
    table = table.take(pc.sort_indices(table, [("row", "ascending"), ("_order", "ascending")]))
    long = {key: table[key].combine_chunks() for key in ("date", "currency", "rate")}
    return long, table["row"].combine_chunks()
