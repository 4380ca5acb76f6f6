"""Exchange rates (SPEC §1): latest on or before the day, the first before the first,
the organization's rate winning over the ECB's, an unknown currency named."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from tests.conftest import ENGINE_BACKENDS
from tests.fixtures.example_small import Dataset, load

from cohortd.engine.fx import RateBook, UnknownCurrency, require_currencies
from cohortd.warehouse import Warehouse


@pytest.fixture(params=ENGINE_BACKENDS)
def warehouse(request: pytest.FixtureRequest) -> Warehouse:
    """DuckDB, PostgreSQL and Spark."""
    return request.getfixturevalue(f"{request.param}_warehouse")


def _book(warehouse: Warehouse, scope, pairs):  # type: ignore[no-untyped-def]
    return RateBook.load(warehouse, scope, pairs)


def test_latest_on_or_before_and_first_before_the_first(warehouse: Warehouse, new_scope) -> None:
    scope = new_scope()
    # XAU-like private currency code unknown to the ECB: only the org's rates exist
    load(
        warehouse,
        scope,
        Dataset(rates=[(date(2024, 1, 10), "XTS", "2"), (date(2024, 1, 20), "XTS", "4")]),
    )
    book = _book(
        warehouse,
        scope,
        [
            ("XTS", date(2024, 1, 1)),  # before the first observation: the first, 2
            ("XTS", date(2024, 1, 10)),  # on an observation day: 2
            ("XTS", date(2024, 1, 19)),  # the latest on or before: 2
            ("XTS", date(2024, 1, 20)),  # 4
            ("XTS", date(2030, 1, 1)),  # after the last: the last, 4
        ],
    )
    got = [book.rate("XTS", d) for d in [date(2024, 1, 1), date(2024, 1, 10), date(2024, 1, 19)]]
    assert got == [Decimal(2), Decimal(2), Decimal(2)]
    assert book.rate("XTS", date(2024, 1, 20)) == Decimal(4)
    assert book.rate("XTS", date(2030, 1, 1)) == Decimal(4)


def test_org_rate_wins_on_the_same_day_and_adds_days(warehouse: Warehouse, new_scope) -> None:
    scope = new_scope()
    # ECB: USD 1.0921 on 2024-01-05 (Fri) and 1.0946 on 2024-01-08 (Mon); none on Sat 01-06
    load(
        warehouse,
        scope,
        Dataset(rates=[(date(2024, 1, 5), "USD", "2"), (date(2024, 1, 6), "USD", "3")]),
    )
    book = _book(
        warehouse,
        scope,
        [("USD", date(2024, 1, 5)), ("USD", date(2024, 1, 7)), ("USD", date(2024, 1, 8))],
    )
    assert book.rate("USD", date(2024, 1, 5)) == Decimal(2)  # the org's, not the ECB's
    assert book.rate("USD", date(2024, 1, 7)) == Decimal(3)  # the org's Saturday rate
    assert book.rate("USD", date(2024, 1, 8)) == Decimal("1.0946")  # ECB again
    other = _book(warehouse, new_scope(), [("USD", date(2024, 1, 5))])
    assert other.rate("USD", date(2024, 1, 5)) == Decimal("1.0921")  # other orgs: ECB only


def test_conversion_factor(warehouse: Warehouse, new_scope) -> None:
    scope = new_scope()
    day = date(2024, 1, 5)
    book = _book(warehouse, scope, [("USD", day), ("JPY", day), ("GBP", day)])
    # ECB 2024-01-05: USD 1.0921, JPY 158.57 per EUR; 1 USD = 158.57 / 1.0921 JPY
    factor = book.factor("USD", "JPY", day)
    assert abs(factor - Decimal("158.57") / Decimal("1.0921")) < Decimal(
        "1e-24"
    )  # the default 28-digit context
    assert str(factor).startswith("145.197326252174709")
    assert book.factor("EUR", "USD", day) == Decimal("1.0921")
    assert book.factor("GBP", "GBP", day) == 1  # same currency: exactly 1, no float noise
    # minor units: 1234 JPY minor = 1234 JPY (exponent 0); 1234 USD minor = 12.34 USD
    assert book.minor_factor("JPY", "JPY", day) == 1
    assert book.minor_factor("USD", "USD", day) == Decimal("0.01")


def test_unknown_currency_is_named(warehouse: Warehouse, new_scope) -> None:
    scope = new_scope()
    with pytest.raises(UnknownCurrency) as raised:
        require_currencies(warehouse, scope, ["USD", "XTS"])
    assert "XTS" in raised.value.detail
    with pytest.raises(UnknownCurrency):
        _book(warehouse, scope, [("XTS", date(2024, 1, 5))])
