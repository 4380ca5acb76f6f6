"""The vectorised money parser agrees with ``cohortd.engine.money.to_minor_units``; the
email digests agree with ``hashlib``."""

from __future__ import annotations

import hashlib
from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import given, settings
from hypothesis import strategies as st

from cohortd.engine.money import MoneyError, to_minor_units
from cohortd.imports import cells

CURRENCIES = ["USD", "JPY", "KWD", "CLF", "EUR"]


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(st.from_regex(r"\A[0-9]{1,9}(\.[0-9]{1,6})?\Z"), st.sampled_from(CURRENCIES)),
        min_size=1,
        max_size=20,
    )
)
def test_money_matches_to_minor_units(rows: list[tuple[str, str]]) -> None:
    parsed = cells.money(pa.array([a for a, _ in rows]), pa.array([c for _, c in rows]))
    bad = [False] * len(rows)
    for mask, _reason in parsed.failures:
        bad = [b or bool(m) for b, m in zip(bad, mask.to_pylist(), strict=True)]
    for (amount, currency), value, failed in zip(rows, parsed.values.to_pylist(), bad, strict=True):
        try:
            expected = to_minor_units(amount, currency)
        except MoneyError:
            assert failed, (amount, currency)
            continue
        assert not failed and value == expected, (amount, currency, value, expected)


def test_money_examples() -> None:
    # 19.99 USD = 1999 cents; 19.990 is the same amount; 1.5 KWD = 1500 fils; 7 JPY = 7.
    parsed = cells.money(
        pa.array(["19.99", "19.990", "1.5", "7", "0"]),
        pa.array(["USD", "USD", "KWD", "JPY", "EUR"]),
    )
    assert parsed.values.to_pylist() == [1999, 1999, 1500, 7, 0]
    assert not any(any(mask.to_pylist()) for mask, _ in parsed.failures)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(min_size=1, max_size=30)), min_size=1, max_size=20))
def test_email_hashed_matches_hashlib(emails: list[str | None]) -> None:
    """The DuckDB digests equal hashlib's over trimmed, lower-cased text (any Unicode)."""
    normalised = pc.utf8_lower(pc.utf8_trim_whitespace(pa.array(emails, pa.string())))
    expected = [
        None if e is None else "sha256:" + hashlib.sha256(e.encode()).hexdigest()
        for e in normalised.to_pylist()
    ]
    assert cells.email_hashed(pa.array(emails, pa.string())).to_pylist() == expected


# -- the fast paths: where they answer, they answer what the cell-by-cell rules do -------
_MONEY_CELL = st.one_of(
    st.none(),
    st.from_regex(r"\A[0-9]{0,20}(\.[0-9]{0,5})?\Z"),  # plain, and near it: ".5", "5.", ""
    st.from_regex(r"\A[-+ ]?[0-9.eE٣]{1,8}\Z"),  # signs, exponents, a non-ASCII digit
)


def _exponents(currencies: list[str | None]) -> pa.Array:
    array = pa.array(currencies, pa.string())
    return pc.take(cells._EXPONENTS, pc.index_in(array, value_set=cells._CURRENCIES))


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.tuples(_MONEY_CELL, st.sampled_from([*CURRENCIES, "XXQ", None])),
        min_size=1,
        max_size=12,
    )
)
def test_plain_money_agrees_with_the_cell_by_cell_rules(
    rows: list[tuple[str | None, str | None]],
) -> None:
    values = cells.blank_to_null(pa.array([a for a, _ in rows], pa.string()))
    exponents = _exponents([c for _, c in rows])
    fast = cells._plain_money(values, exponents)
    checked = cells._checked_money(values, exponents)
    if fast is None:
        return  # the batch goes cell by cell
    assert not any(pc.any(mask).as_py() for mask, _ in checked.failures), rows
    assert fast.to_pylist() == checked.values.to_pylist(), rows


def test_plain_money_answers_the_common_cases() -> None:
    values = pa.array(["19.99", "5", "5.", "007.5", "1000", None], pa.string())
    exponents = _exponents(["USD", "USD", "JPY", "KWD", "JPY", "USD"])
    fast = cells._plain_money(values, exponents)
    assert fast is not None
    assert fast.to_pylist() == [1999, 500, 5, 7500, 1000, None]
    # anything else goes cell by cell: too many decimals, a sign, a lone point, too big
    for odd, currency in [("1.999", "USD"), ("-1", "USD"), (".5", "USD"), ("1" * 17, "USD")]:
        assert cells._plain_money(pa.array([odd]), _exponents([currency])) is None, odd


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.none(),
            st.from_regex(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}\Z"),
            st.from_regex(r"\A[0-9+ T:Z/-]{6,13}\Z"),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_the_date_fast_path_agrees_with_the_cell_by_cell_rules(cells_in: list[str | None]) -> None:
    values = cells.blank_to_null(pa.array(cells_in, pa.string()))
    checked = cells._checked_date(values)
    try:
        fast = pc.cast(values, pa.date32())  # what date_ tries first
    except pa.ArrowInvalid:
        return  # the batch goes cell by cell
    assert not any(pc.any(mask).as_py() for mask, _ in checked.failures), cells_in
    # as day numbers: Arrow reads year 0000 too, which Python's dates cannot hold
    days = pc.cast(fast, pa.int32()).to_pylist()
    assert days == pc.cast(checked.values, pa.int32()).to_pylist(), cells_in


@settings(max_examples=300, deadline=None)
@given(
    st.integers(min_value=1, max_value=18).flatmap(
        lambda precision: st.tuples(
            st.just(precision),
            st.integers(min_value=0, max_value=precision),
            st.lists(
                st.tuples(
                    st.one_of(
                        st.none(),
                        st.integers(min_value=-(10**precision) + 1, max_value=10**precision - 1),
                        st.integers(min_value=0, max_value=999).map(lambda v: v * 10**4),
                    ),
                    st.sampled_from([*CURRENCIES, "XXQ", None]),
                ),
                min_size=1,
                max_size=12,
            ),
        )
    )
)
def test_decimal_money_agrees_with_the_same_values_read_as_text(
    case: tuple[int, int, list[tuple[int | None, str | None]]],
) -> None:
    precision, scale, rows = case
    kind = pa.decimal128(precision, scale)
    units = [None if v is None else min(v, 10**precision - 1) for v, _ in rows]
    column = pa.array(
        [None if u is None else Decimal(u).scaleb(-scale) for u in units], kind
    ).slice(0)
    currencies = pa.array([c for _, c in rows], pa.string())
    exact = cells.money(column, currencies)
    as_text = cells.money(cells.decimal_text(column), currencies)
    assert exact.values.to_pylist() == as_text.values.to_pylist(), rows
    assert _effective(exact.failures) == _effective(as_text.failures), rows


def _effective(failures: list[tuple[pa.Array, str]]) -> list[tuple[list[bool], str]]:
    """The failures that mark some cell (a mask with none marks nothing)."""
    return [(m.to_pylist(), r) for m, r in failures if pc.any(m).as_py()]


def test_decimal_money_reads_the_integer_of_a_sliced_column() -> None:
    column = pa.array([Decimal("1.50"), Decimal("19.99"), None, Decimal("7.00")])
    part = column.slice(1)  # an offset into the buffer, as Parquet batches may have
    got = cells.money(part, pa.array(["USD", "USD", "JPY"]))
    assert got.values.to_pylist() == [1999, None, 7]
    assert got.failures == []


def test_decimal_money_of_a_large_scale_reads_as_plain_text() -> None:
    kind = pa.decimal128(9, 7)
    zero = cells.money(pa.array([Decimal("0E-7")], kind), pa.array(["USD"]))
    assert zero.values.to_pylist() == [0] and zero.failures == []
    # too precise for USD: left to the text rules, which see "0.0000001", not "1E-7"
    tiny = cells.money(pa.array([Decimal("1E-7")], kind), pa.array(["USD"]))
    assert _effective(tiny.failures) == [([True], "more decimals than the currency allows (2)")]


def test_decimal_money_of_other_widths_reads_as_text() -> None:
    for kind in (pa.decimal256(12, 2), pa.decimal128(30, 2)):
        got = cells.money(
            pa.array([Decimal("19.99"), Decimal("-1.00")], kind), pa.array(["USD"] * 2)
        )
        assert got.values.to_pylist() == [1999, None]
        assert _effective(got.failures) == [([False, True], "negative MRR")]


def test_key_length_counts_characters_not_bytes() -> None:
    accented = "é" * 255  # 510 bytes, 255 characters: allowed
    parsed = cells.key(pa.array([accented, "é" * 256, "x" * 255, "x" * 256, None]))
    assert _effective(parsed.failures) == [
        ([False, True, False, True, False], "longer than 255 characters")
    ]
    short = cells.key(pa.array(["a", " b ", None]))
    assert short.values.to_pylist() == ["a", "b", None] and short.failures == []


def test_codes_change_case_of_ascii_letters_only() -> None:
    """``usd`` is USD; ``uſd`` is not, though Unicode upper-cases ``ſ`` to ``S``; nor is a
    status with a dotted capital I."""
    parsed = cells.currency(pa.array(["usd", " Eur ", "uſd", "ＵＳＤ", None]))
    assert parsed.values.to_pylist()[:2] == ["USD", "EUR"]
    assert _effective(parsed.failures) == [
        ([False, False, True, True, False], "not an ISO 4217 currency code")
    ]
    status = cells.status(pa.array(["Active", "actİve"]), ("active",))
    assert status.values.to_pylist()[0] == "active"
    assert [m for m, _ in _effective(status.failures)] == [[False, True]]
