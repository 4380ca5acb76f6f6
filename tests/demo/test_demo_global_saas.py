"""``--shape global-saas``: the population SPEC §8's acceptance data is shaped like."""

from __future__ import annotations

from collections import defaultdict
from datetime import date

import pytest

from cohortd.demo import DemoData, Shape, generate
from cohortd.demo.catalog import CURRENCIES
from cohortd.demo.generator import DemoConfig, default_start
from cohortd.engine.money import to_minor_units


@pytest.fixture(scope="module")
def global_saas() -> DemoData:
    return generate(
        customers=4_000,
        seed=5,
        start=date(2021, 12, 1),
        end=date(2026, 12, 6),
        shape=Shape.global_saas,
    )


def test_sixty_percent_abroad_twenty_currencies_some_with_two(global_saas: DemoData) -> None:
    currencies: dict[str, set[str]] = defaultdict(set)
    rows: dict[str, int] = defaultdict(int)
    for row in global_saas.subscriptions.to_pylist():
        currencies[row["customer_id"]].add(row["currency"])
        rows[row["customer_id"]] += 1
        assert to_minor_units(row["mrr"], row["currency"]) >= 0
    assert {c for cs in currencies.values() for c in cs} == set(CURRENCIES)
    assert len(CURRENCIES) == 20
    abroad = sum(1 for cs in currencies.values() if cs != {"USD"}) / len(currencies)
    assert 0.55 <= abroad <= 0.7, abroad
    two = sum(1 for cs in currencies.values() if len(cs) == 2)
    assert two > 0 and all(len(cs) <= 2 for cs in currencies.values())
    assert sum(1 for n in rows.values() if n >= 3) / len(rows) > 0.3  # several stretches


def test_five_years_by_default_and_the_default_shape_is_unchanged() -> None:
    config = DemoConfig(customers=10, seed=0, end=date(2026, 12, 6), shape=Shape.global_saas)
    assert default_start(config) == date(2021, 12, 1)
    plain = DemoConfig(customers=10, seed=0, end=date(2026, 12, 6))
    assert default_start(plain) == date(2021, 1, 1)
    # the default shape never bills in the currencies only global-saas uses
    default = generate(customers=500, seed=5, end=date(2026, 12, 6))
    assert set(default.subscriptions.column("currency").to_pylist()) <= set(CURRENCIES[:10])
