"""The vectorised money parser agrees with ``cohortd.engine.money.to_minor_units``; the
email digests agree with ``hashlib``."""

from __future__ import annotations

import hashlib

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
