"""The demo data generator: determinism, consistency of every row, realistic shape.

Invariants are checked on 2,000 customers (seed 11, 2021-01-01 .. 2025-10-31) by plain
Python re-readings of the rows, independent of the numpy code that produced them.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from cohortd import clock
from cohortd.demo import DemoConfig, DemoData, DemoFormat, catalog, generate, write_demo_data
from cohortd.demo.layout import csv_bytes
from cohortd.engine.money import exponent, is_currency, to_minor_units
from cohortd.errors import InvalidParameter

START, END = date(2021, 1, 1), date(2025, 10, 31)
Row = dict[str, Any]


@pytest.fixture(scope="module")
def demo() -> DemoData:
    return generate(customers=2_000, seed=11, start=START, end=END)


@pytest.fixture(scope="module")
def customers(demo: DemoData) -> list[Row]:
    return demo.customers.to_pylist()


@pytest.fixture(scope="module")
def rows_by_customer(demo: DemoData) -> dict[str, list[Row]]:
    grouped: dict[str, list[Row]] = defaultdict(list)
    for row in demo.subscriptions.to_pylist():
        grouped[row["customer_id"]].append(row)
    return grouped


def _day(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def _is_addon(row: Row) -> bool:
    return str(row["plan_id"]).startswith("addon_")


def _covers(row: Row, day: date) -> bool:
    end = _day(row["end_date"])
    return _day(row["start_date"]) <= day and (end is None or day < end)  # type: ignore[operator]


# --- determinism -------------------------------------------------------------------------


def test_same_seed_same_bytes_and_another_seed_differs(tmp_path: Path) -> None:
    config = DemoConfig(customers=400, seed=5, start=START, end=END)
    first = write_demo_data(tmp_path / "a", config)
    second = write_demo_data(tmp_path / "b", config)
    other = write_demo_data(tmp_path / "c", DemoConfig(customers=400, seed=6, start=START, end=END))
    for name in ("customers.csv", "subscriptions.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
        assert (tmp_path / "a" / name).read_bytes() != (tmp_path / "c" / name).read_bytes()
    assert (first.customers, first.subscriptions) == (second.customers, second.subscriptions)
    assert other.customers == 400


def test_files_hold_exactly_the_generated_tables(tmp_path: Path) -> None:
    data = generate(customers=300, seed=2, start=START, end=END)
    write_demo_data(tmp_path, DemoConfig(customers=300, seed=2, start=START, end=END))
    assert (tmp_path / "customers.csv").read_bytes() == csv_bytes(data.customers, header=True)
    assert (tmp_path / "subscriptions.csv").read_bytes() == csv_bytes(
        data.subscriptions, header=True
    )
    assert not list(tmp_path.glob("*.partial"))


def test_parquet_holds_the_same_strings(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    config = DemoConfig(customers=300, seed=2, start=START, end=END)
    data = generate(customers=300, seed=2, start=START, end=END)
    files = write_demo_data(tmp_path, config, file_format=DemoFormat.parquet)
    assert files.customers_path.name == "customers.parquet"
    assert pq.read_table(files.customers_path).equals(data.customers)
    assert pq.read_table(files.subscriptions_path).equals(data.subscriptions)


@pytest.mark.parametrize(
    ("arguments", "parameter"),
    [
        ({"customers": 0}, "customers"),
        ({"customers": 10, "seed": -1}, "seed"),
        ({"customers": 10, "start": date(2024, 1, 1), "end": date(2024, 1, 1)}, "end"),
        ({"customers": 10, "start": date(1969, 12, 1), "end": date(2024, 1, 1)}, "start"),
    ],
)
def test_bad_arguments_name_the_parameter(arguments: dict[str, Any], parameter: str) -> None:
    arguments.setdefault("seed", 1)
    with pytest.raises(InvalidParameter) as raised:
        generate(**arguments)
    assert raised.value.parameter == parameter


def test_one_customer_and_exact_count() -> None:
    assert generate(customers=1, seed=0, start=START, end=END).customers.num_rows == 1
    assert generate(customers=777, seed=0, start=START, end=END).customers.num_rows == 777


# --- every subscription row is consistent ---------------------------------------------------


def test_subscription_rows_are_consistent(demo: DemoData, customers: list[Row]) -> None:
    known = {customer["id"] for customer in customers}
    rows = demo.subscriptions.to_pylist()
    assert len({row["id"] for row in rows}) == len(rows)
    for row in rows:
        assert row["customer_id"] in known
        start, end = _day(row["start_date"]), _day(row["end_date"])
        assert start is not None and START <= start <= END
        assert end is None or start < end <= END, row
        minor = to_minor_units(row["mrr"], row["currency"])
        assert minor >= 0
        if row["status"] in ("trialing", "paused"):
            assert minor == 0, row
        else:
            assert minor > 0, row
        assert row["status"] in {"active", "trialing", "paused", "cancelled", "lapsed"}
        # A still-running row is never cancelled or lapsed.
        assert end is not None or row["status"] in {"active", "trialing", "paused"}


def test_mrr_has_exactly_the_currency_exponent(demo: DemoData) -> None:
    seen: Counter[str] = Counter()
    for row in demo.subscriptions.to_pylist():
        digits = exponent(row["currency"])
        # JPY 0 decimals: "2900"; USD 2: "29.00" -- never "29", "29.0" or "2900.00" yen.
        pattern = r"\d+" if digits == 0 else rf"\d+\.\d{{{digits}}}"
        assert re.fullmatch(pattern, row["mrr"]), row
        seen[row["currency"]] += 1
    assert seen["JPY"] > 0
    # the default shape bills in its countries' currencies (the others are global-saas's)
    assert set(seen) == {c.currency for c in catalog.COUNTRIES if c.weight > 0}


def test_stretches_of_one_subscription_never_overlap(
    rows_by_customer: dict[str, list[Row]],
) -> None:
    # The base line (trial, paid, paused, reactivated) and the add-on line are each one
    # sequence of stretches: inside a line, each starts on or after the previous end.
    for rows in rows_by_customer.values():
        for line in ([r for r in rows if not _is_addon(r)], [r for r in rows if _is_addon(r)]):
            ordered = sorted(line, key=lambda r: r["start_date"])
            for before, after in pairwise(ordered):
                assert before["end_date"] is not None, (before, after)
                assert before["end_date"] <= after["start_date"], (before, after)


def test_created_at_before_first_row_and_rows_follow_customer_order(
    demo: DemoData, customers: list[Row]
) -> None:
    created = {c["id"]: c["created_at"] for c in customers}
    order = {c["id"]: index for index, c in enumerate(customers)}
    previous = -1
    for row in demo.subscriptions.to_pylist():
        assert row["start_date"] >= created[row["customer_id"]][:10]
        assert order[row["customer_id"]] >= previous
        previous = order[row["customer_id"]]
    stamps = [c["created_at"] for c in customers]
    assert stamps == sorted(stamps)


# --- realistic shape ------------------------------------------------------------------------


def test_about_thirty_percent_start_with_a_trial_and_some_never_convert(
    rows_by_customer: dict[str, list[Row]],
) -> None:
    first_rows = [
        sorted(rows, key=lambda r: r["start_date"])[0] for rows in rows_by_customer.values()
    ]
    trials = [row for row in first_rows if row["status"] == "trialing"]
    # 30% target; with ~1,900 subscribers one standard deviation is ~1 point.
    assert 0.26 <= len(trials) / len(first_rows) <= 0.34
    never_paid = [
        rows for rows in rows_by_customer.values()
        if all(to_minor_units(r["mrr"], r["currency"]) == 0 for r in rows)
        and all(r["end_date"] is not None for r in rows)
    ]  # fmt: skip
    assert len(never_paid) >= 0.05 * len(trials)


def test_reactivations_and_overlapping_subscriptions_exist(
    rows_by_customer: dict[str, list[Row]],
) -> None:
    reactivated = overlapping = 0
    for rows in rows_by_customer.values():
        base = sorted((r for r in rows if not _is_addon(r)), key=lambda r: r["start_date"])
        if any(b["end_date"] and a["start_date"] > b["end_date"] for b, a in pairwise(base)):
            reactivated += 1
        addons = [r for r in rows if _is_addon(r)]
        if any(_covers(b, _day(a["start_date"])) for a in addons for b in base):  # type: ignore[arg-type]
            overlapping += 1
    assert reactivated >= 20
    assert overlapping >= 20


def test_changes_pauses_and_every_plan_appear(demo: DemoData) -> None:
    rows = demo.subscriptions.to_pylist()
    assert {row["plan_id"] for row in rows} == set(catalog.PLAN_IDS)
    statuses = Counter(row["status"] for row in rows)
    assert all(statuses[s] > 0 for s in ("active", "trialing", "paused", "cancelled", "lapsed"))
    # Expansion and contraction: consecutive paid rows of one customer with another price.
    by_customer: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        if not _is_addon(row) and row["status"] != "paused" and row["status"] != "trialing":
            by_customer[row["customer_id"]].append(row)
    ups = downs = 0
    for paid in by_customer.values():
        for before, after in pairwise(paid):
            if before["end_date"] == after["start_date"]:
                old, new = Decimal(before["mrr"]), Decimal(after["mrr"])
                ups += new > old
                downs += new < old
    assert ups > downs > 50


def test_churn_hazard_falls_with_tenure(rows_by_customer: dict[str, list[Row]]) -> None:
    # First paid life only: churn within its first 180 days versus churn in days
    # 365..545 among lives that survived 365 days (both only where fully observed).
    early = [0, 0]
    later = [0, 0]
    for rows in rows_by_customer.values():
        base = sorted((r for r in rows if not _is_addon(r) and r["status"] != "trialing"),
                      key=lambda r: r["start_date"])  # fmt: skip
        if not base:
            continue
        paid_start = _day(base[0]["start_date"])
        churn = None
        for before, after in zip(base, [*base[1:], None], strict=False):
            if before["end_date"] and (after is None or after["start_date"] > before["end_date"]):
                churn = _day(before["end_date"])
                break
        assert paid_start is not None
        age = (churn - paid_start).days if churn else None
        if paid_start + timedelta(days=180) <= END:
            early[0] += 1
            early[1] += age is not None and age < 180
        if paid_start + timedelta(days=545) <= END and (age is None or age >= 365):
            later[0] += 1
            later[1] += age is not None and age < 545
    # Seed 11 gives 326/1332 = 24.5% early and 80/521 = 15.4% later: falling hazard. The
    # check asks for a gap of more than three standard errors, not for these numbers.
    early_rate, later_rate = early[1] / early[0], later[1] / later[0]
    error = early_rate * (1 - early_rate) / early[0] + later_rate * (1 - later_rate) / later[0]
    assert early_rate - later_rate > 3 * error**0.5


def test_signups_grow_with_january_and_september_peaks(customers: list[Row]) -> None:
    per_year = Counter(c["created_at"][:4] for c in customers)
    assert per_year["2024"] > 1.5 * per_year["2021"]
    # Pool 2021-2024 by calendar month, per day of that month.
    per_month: Counter[int] = Counter()
    for c in customers:
        if c["created_at"][:4] <= "2024":
            per_month[int(c["created_at"][5:7])] += 1
    rate = {m: per_month[m] / (31 if m in (1, 12) else 30) for m in (1, 6, 9, 12)}
    assert rate[1] > rate[12] * 1.3
    assert rate[9] > rate[12] * 1.3
    assert rate[1] > rate[6]


def test_scores_go_with_churn(customers: list[Row], rows_by_customer: dict[str, list[Row]]) -> None:
    def mean(values: list[float]) -> float:
        return sum(values) / len(values)

    churned = [c for c in customers if c["status"] in ("cancelled", "lapsed") and c["health_score"]]
    active = [c for c in customers if c["status"] == "active" and c["health_score"]]
    assert mean([int(c["health_score"]) for c in churned]) + 15 < mean(
        [int(c["health_score"]) for c in active]
    )
    assert (
        mean([int(c["risk_score"]) for c in churned])
        > mean([int(c["risk_score"]) for c in active]) + 15
    )
    engaged = [float(c["engagement_score"]) for c in active if c["engagement_score"]]
    disengaged = [float(c["engagement_score"]) for c in churned if c["engagement_score"]]
    assert mean(engaged) > mean(disengaged)


# --- customer fields --------------------------------------------------------------------


_TERRITORY_OF = {country.code: set(country.territories) for country in catalog.COUNTRIES}
_CURRENCY_OF = {c.code: c.currency for c in catalog.COUNTRIES if c.weight > 0}  # default shape
_SEGMENT_OF_SIZE = {size: segment.name for segment in catalog.SEGMENTS for size in segment.sizes}


def _share(customers: list[Row], field: str) -> float:
    return sum(1 for c in customers if c[field] not in (None, "")) / len(customers)


@pytest.mark.parametrize(
    ("field", "low", "high"),
    [
        ("id", 1.0, 1.0), ("name", 1.0, 1.0), ("email", 1.0, 1.0), ("created_at", 1.0, 1.0),
        ("country", 0.95, 0.995), ("currency", 0.93, 0.995), ("industry", 0.9, 0.99),
        ("channel", 0.9, 0.99), ("size", 0.93, 0.995), ("segment", 0.95, 0.995),
        ("territory", 0.95, 0.995), ("owner_id", 0.25, 0.6), ("status", 0.6, 0.85),
        ("plan_id", 0.2, 0.6), ("tags", 0.4, 0.9), ("engagement_score", 0.9, 0.99),
        ("health_score", 0.8, 0.9), ("risk_score", 0.8, 0.9), ("metadata", 0.3, 0.5),
    ],
)  # fmt: skip
def test_every_field_is_populated_in_a_plausible_share(
    customers: list[Row], field: str, low: float, high: float
) -> None:
    assert low <= _share(customers, field) <= high


def test_customer_values_are_plausible(customers: list[Row]) -> None:
    assert len({c["id"] for c in customers}) == len(customers)
    for c in customers:
        number = int(c["id"].removeprefix("cus_"))
        assert re.fullmatch(r"cus_\d{7}", c["id"]) and 1 <= number <= len(customers)
        assert re.fullmatch(rf"[a-z]+@[a-z]+-{number}\.example", c["email"]), c["email"]
        assert len(c["name"].split(" ")) >= 3
        assert c["country"] in (None, *_CURRENCY_OF)
        assert c["currency"] is None or is_currency(c["currency"])
        assert c["industry"] in (None, *catalog.INDUSTRIES)
        assert c["channel"] in (None, *catalog.CHANNELS)
        assert c["size"] in (None, *catalog.SIZES)
        if c["size"] and c["segment"]:
            assert _SEGMENT_OF_SIZE[c["size"]] == c["segment"]
        if c["country"] and c["territory"]:
            assert c["territory"] in _TERRITORY_OF[c["country"]]
        assert c["owner_id"] is None or re.fullmatch(r"rep_\d{3}", c["owner_id"])
        assert c["status"] in (None, "active", "trialing", "paused", "cancelled", "lapsed")
        assert c["plan_id"] in (None, *catalog.PLAN_IDS)
        assert c["tags"] is None or set(c["tags"].split(";")) <= set(catalog.TAGS)
        if c["engagement_score"]:
            assert re.fullmatch(r"[01]\.\d{1,3}", c["engagement_score"])
            assert 0 <= float(c["engagement_score"]) <= 1
        for score in ("health_score", "risk_score"):
            assert c[score] is None or 0 <= int(c[score]) <= 100
        created = datetime.strptime(c["created_at"], "%Y-%m-%dT%H:%M:%SZ").date()
        assert START <= created <= END
        if c["metadata"]:
            assert set(json.loads(c["metadata"])) == {"crm_id", "utm_source"}


def test_currency_follows_country_mostly(
    customers: list[Row], rows_by_customer: dict[str, list[Row]]
) -> None:
    matched = foreign = 0
    for c in customers:
        row_currencies = {row["currency"] for row in rows_by_customer.get(c["id"], [])}
        # One billing currency per customer; the file's currency (when given) is it.
        assert len(row_currencies) <= 1
        if c["currency"] and row_currencies:
            assert row_currencies == {c["currency"]}
        if c["country"] and c["currency"]:
            if _CURRENCY_OF[c["country"]] == c["currency"]:
                matched += 1
            else:
                foreign += 1
    assert foreign > 0
    assert matched / (matched + foreign) > 0.9
    assert {c["country"] for c in customers} >= set(_CURRENCY_OF)


def _spec_status(rows: list[Row], day: date) -> str | None:
    """SPEC §1 status on `day`, re-derived in plain Python."""
    covering = [r for r in rows if _covers(r, day)]
    if sum(to_minor_units(r["mrr"], r["currency"]) for r in covering) > 0:
        return "active"
    if any(r["status"] == "paused" for r in covering):
        return "paused"
    if covering:
        return "trialing"
    ended = [r for r in rows if r["end_date"] and _day(r["end_date"]) <= day]  # type: ignore[operator]
    if ended:
        last = max(r["end_date"] for r in ended)
        return (
            "lapsed"
            if all(r["status"] == "lapsed" for r in ended if r["end_date"] == last)
            else "cancelled"
        )
    return None


def test_given_status_and_plan_agree_with_the_history(
    customers: list[Row], rows_by_customer: dict[str, list[Row]]
) -> None:
    given = 0
    for c in customers:
        rows = rows_by_customer.get(c["id"], [])
        derived = _spec_status(rows, END)
        if c["status"] is not None:
            given += 1
            assert c["status"] == derived, (c["id"], rows)
        if c["plan_id"] is not None:
            covering = [r for r in rows if _covers(r, END)]
            best = max(to_minor_units(r["mrr"], r["currency"]) for r in covering)
            assert c["plan_id"] == min(
                r["plan_id"] for r in covering if to_minor_units(r["mrr"], r["currency"]) == best
            )
    # Some customers state it, others leave it to the derivation.
    assert 0 < given < len(customers)


def test_small_tables_are_strings_in_the_file_layout(demo: DemoData) -> None:
    assert all(field.type == pa.string() for field in demo.customers.schema)
    assert all(field.type == pa.string() for field in demo.subscriptions.schema)


def test_end_defaults_to_today() -> None:
    today = clock.today()  # the suite pins COHORTD_TODAY: no midnight race
    config = DemoConfig(customers=40, seed=1, start=today - timedelta(days=400))
    assert config.resolved().end == today
    data = generate(customers=40, seed=1, start=today - timedelta(days=400))
    rows = data.subscriptions.to_pylist()
    assert max(row["start_date"] for row in rows) <= config.resolved().horizon.isoformat()
    assert any(row["end_date"] is None for row in rows)
