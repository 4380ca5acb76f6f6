"""Reading the query's exact decimals as integers of 10⁻¹⁸ units (``engine.report``'s
``_scaled_array`` and ``engine.time_cells.words``)."""

from __future__ import annotations

from decimal import Decimal, localcontext

import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st
from tests.engine.cell_reference import scaled_integers as _scaled_column

LIMIT = 10**38 - 1  # decimal128(38, 18) holds 38 digits in all


def _expected(values: list[Decimal | None]) -> list[int | None]:
    with localcontext() as context:
        context.prec = 60
        return [None if v is None else int(v.scaleb(18)) for v in values]


def test_signs_nulls_tiny_and_huge_values() -> None:
    values = [
        Decimal("-1.5"),
        Decimal("-0.000000000000000001"),
        Decimal(0),
        None,
        Decimal("-12345678901234567890.123456789012345678"),
        Decimal("99999999999999999999.999999999999999999"),
        Decimal("7.25"),
    ]
    column = pa.array(values, pa.decimal128(38, 18))
    assert _scaled_column(pa.table({"x": column}), "x") == _expected(values)


def test_chunks_slices_other_scales_and_empty_columns() -> None:
    values = [Decimal("1.5"), None, Decimal("-2.25"), Decimal("3")]
    column = pa.array(values, pa.decimal128(38, 18))
    chunked = pa.chunked_array([column[:1], column[1:3], column[3:]])
    assert _scaled_column(pa.table({"x": chunked}), "x") == _expected(values)
    assert _scaled_column(pa.table({"x": column.slice(1)}), "x") == _expected(values[1:])
    narrow = pa.array(values, pa.decimal128(10, 2))
    assert _scaled_column(pa.table({"x": narrow}), "x") == _expected(values)
    assert _scaled_column(pa.table({"x": pa.array([], pa.decimal128(38, 18))}), "x") == []
    assert _scaled_column(pa.table({"x": pa.nulls(2)}), "x") == [None, None]


@given(st.lists(st.one_of(st.none(), st.integers(-LIMIT, LIMIT)), max_size=50))
def test_any_value_reads_back_exactly(units: list[int | None]) -> None:
    with localcontext() as context:
        context.prec = 60
        values = [None if u is None else Decimal(u).scaleb(-18) for u in units]
    column = pa.array(values, pa.decimal128(38, 18))
    assert _scaled_column(pa.table({"x": column}), "x") == units
