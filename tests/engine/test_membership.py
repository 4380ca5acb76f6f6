# ruff: noqa: E501  (the population table below is wider than a line)
"""SPEC §3 membership: each criterion alone and combined, customers on every boundary.

As of D = 2025-06-15 (today = 2025-07-01 unless said). Population, worked by hand:

| id | country cur | industry channel size  segment    territory owner | tags               | score | created_at          | as of D                           |
|----|-------------|------------------------------------------------------|--------------------|-------|---------------------|-----------------------------------|
| a  | US USD      | Software organic 1-10   SMB        NA-East   rep_1 | vip, beta          | 0.5   | 2024-01-01 00:00    | active, pro, paid Jun 5: tenure 10 |
| b  | DE EUR      | software partner 11-50  Mid-Market EMEA      rep_2 | VIP                | 0.49  | 2024-04-01 00:00    | active, basic, paid May 16: 30    |
| c  | FR EUR      | Retail   organic 51-200 Enterprise EMEA      rep_2 | vip, beta, churn_risk | -  | 2024-03-31 23:59:59 | active, pro, paid May 15: 31      |
| d  | US USD      | Software -       -      -          -         -     | -                  | 0.9   | 2025-06-01          | trialing, trial_plan, never paid  |
| e  | GB GBP      | Retail   -       -      -          -         -     | beta               | 0.8   | 2024-06-01          | cancelled Jun 1, paid Jan 1: 165  |
| f  | -  -        | -        -       -      -          -         -     | -                  | -     | 2023-06-01          | no subscriptions: status null     |
| g  | US USD      | -        -       -      -          -         -     | []                 | 0.2   | 2024-06-01          | active, basic, paid Jun 6: 9; given status "paused" (today) |
"""

from __future__ import annotations

from datetime import date, datetime

import pytest
from tests.conftest import on_spark_too
from tests.engine.state_rows import Cust, Sub, load

from cohortd.engine.membership import CohortDefinition, member_count, members
from cohortd.warehouse import Scope, Warehouse

D = date(2025, 6, 15)
TODAY = date(2025, 7, 1)

POPULATION = [
    Cust(
        "a",
        datetime(2024, 1, 1),
        country="US",
        currency="USD",
        industry="Software",
        channel="organic",
        size="1-10",
        segment="SMB",
        territory="NA-East",
        owner_id="rep_1",
        tags=("vip", "beta"),
        engagement_score=0.5,
    ),
    Cust(
        "b",
        datetime(2024, 4, 1),
        country="DE",
        currency="EUR",
        industry="software",
        channel="partner",
        size="11-50",
        segment="Mid-Market",
        territory="EMEA",
        owner_id="rep_2",
        tags=("VIP",),
        engagement_score=0.49,
    ),
    Cust(
        "c",
        datetime(2024, 3, 31, 23, 59, 59),
        country="FR",
        currency="EUR",
        industry="Retail",
        channel="organic",
        size="51-200",
        segment="Enterprise",
        territory="EMEA",
        owner_id="rep_2",
        tags=("vip", "beta", "churn_risk"),
    ),
    Cust(
        "d",
        datetime(2025, 6, 1),
        country="US",
        currency="USD",
        industry="Software",
        engagement_score=0.9,
    ),
    Cust(
        "e",
        datetime(2024, 6, 1),
        country="GB",
        currency="GBP",
        industry="Retail",
        tags=("beta",),
        engagement_score=0.8,
    ),
    Cust("f", datetime(2023, 6, 1)),
    Cust(
        "g",
        datetime(2024, 6, 1),
        country="US",
        currency="USD",
        tags=(),
        engagement_score=0.2,
        status="paused",
    ),
]
SUBSCRIPTIONS = [
    Sub("sa", "a", date(2025, 6, 5), None, 1000, plan_id="pro"),
    Sub("sb", "b", date(2025, 5, 16), None, 800, plan_id="basic", currency="EUR"),
    Sub("sc", "c", date(2025, 5, 15), None, 2000, plan_id="pro", currency="EUR"),
    Sub("sd", "d", date(2025, 6, 1), date(2025, 7, 15), 0, plan_id="trial_plan", status="trialing"),
    Sub(
        "se",
        "e",
        date(2025, 1, 1),
        date(2025, 6, 1),
        900,
        plan_id="pro",
        currency="GBP",
        status="cancelled",
    ),
    Sub("sg", "g", date(2025, 6, 6), None, 300, plan_id="basic"),
]
EVERYONE = set("abcdefg")

SCENARIOS: list[tuple[str, CohortDefinition, set[str]]] = [
    ("empty matches everyone", CohortDefinition(), EVERYONE),
    (
        "status active (derived on D; g's given paused is today's)",
        CohortDefinition(status=("active",)),
        {"a", "b", "c", "g"},
    ),
    ("status any of", CohortDefinition(status=("cancelled", "trialing")), {"d", "e"}),
    (
        "status null matches no status",
        CohortDefinition(status=("active", "trialing", "paused", "cancelled", "lapsed")),
        EVERYONE - {"f"},
    ),
    # a = 10 (exactly min), b 30, c 31, e 165; g 9 too young; d, f never paid fail.
    ("tenure min inclusive", CohortDefinition(tenure_days_min=10), {"a", "b", "c", "e"}),
    # a 10, b 30 (exactly max), g 9; c 31 too old; never paid fail.
    ("tenure max inclusive", CohortDefinition(tenure_days_max=30), {"a", "b", "g"}),
    ("tenure min and max", CohortDefinition(tenure_days_min=10, tenure_days_max=30), {"a", "b"}),
    (
        "never paid fails a zero bound",
        CohortDefinition(tenure_days_min=0),
        {"a", "b", "c", "e", "g"},
    ),
    # plans on D: a pro, c pro; e cancelled → no plan; PRO matches pro (case-insensitive).
    ("plan ids", CohortDefinition(plan_ids=("PRO",)), {"a", "c"}),
    (
        "plan ids as of D include trial plans",
        CohortDefinition(plan_ids=("trial_plan", "basic")),
        {"b", "d", "g"},
    ),
    # a's tag set equals the list; c holds a superset; b has VIP only.
    ("tags include all", CohortDefinition(tags_include=("vip", "beta")), {"a", "c"}),
    (
        "tags include one, case-insensitive",
        CohortDefinition(tags_include=("Vip",)),
        {"a", "b", "c"},
    ),
    # customers without tags (d, f null; g empty) are never rejected.
    ("tags exclude any", CohortDefinition(tags_exclude=("churn_risk", "nope")), EVERYONE - {"c"}),
    # a exactly 0.5; d 0.9; e 0.8; b 0.49 below; c and f missing fail.
    (
        "score min inclusive, missing fails",
        CohortDefinition(engagement_score_min=0.5),
        {"a", "d", "e"},
    ),
    (
        "score min 0 still needs a score",
        CohortDefinition(engagement_score_min=0.0),
        EVERYONE - {"c", "f"},
    ),
    ("countries", CohortDefinition(countries=("us",)), {"a", "d", "g"}),
    ("currencies", CohortDefinition(currencies=("eur", "GBP")), {"b", "c", "e"}),
    ("industries case-insensitive", CohortDefinition(industries=("SOFTWARE",)), {"a", "b", "d"}),
    ("channels", CohortDefinition(channels=("organic",)), {"a", "c"}),
    ("sizes", CohortDefinition(sizes=("51-200",)), {"c"}),
    ("segments", CohortDefinition(segments=("smb", "Enterprise")), {"a", "c"}),
    ("territories", CohortDefinition(territories=("emea",)), {"b", "c"}),
    ("owner ids", CohortDefinition(owner_ids=("rep_2",)), {"b", "c"}),
    # half-open: a at exactly created_from is in; b at exactly created_before is out.
    (
        "created half-open",
        CohortDefinition(created_from=datetime(2024, 1, 1), created_before=datetime(2024, 4, 1)),
        {"a", "c"},
    ),
    ("created_from alone", CohortDefinition(created_from=datetime(2024, 6, 1)), {"d", "e", "g"}),
    (
        "empty lists constrain nothing",
        CohortDefinition(status=(), countries=(), tags_include=()),
        EVERYONE,
    ),
    # active {a,b,c,g} ∩ tenure 10..31 {a,b,c} ∩ vip {a,b,c} ∩ score ≥ 0.49 {a,b,d,e} = {a,b}.
    (
        "combined",
        CohortDefinition(
            status=("active",),
            tenure_days_min=10,
            tenure_days_max=31,
            tags_include=("vip",),
            engagement_score_min=0.49,
        ),
        {"a", "b"},
    ),
    # {a,b,c} by tags → EMEA {b,c} → not excluded {b} → plan basic {b}.
    (
        "combined on fields and plan",
        CohortDefinition(
            tags_include=("vip",),
            territories=("EMEA",),
            tags_exclude=("churn_risk",),
            plan_ids=("basic",),
        ),
        {"b"},
    ),
]


# every test on DuckDB, PostgreSQL and Spark (the conftest's ``warehouse``)
pytestmark = on_spark_too


@pytest.fixture(scope="module")
def loaded() -> dict[str, Scope]:
    """The population's scope on each backend: loaded once, read by every test."""
    return {}


@pytest.fixture
def scope(warehouse: Warehouse, new_scope, loaded: dict[str, Scope]) -> Scope:
    if warehouse.name not in loaded:
        loaded[warehouse.name] = new_scope()
        load(warehouse, loaded[warehouse.name], POPULATION, SUBSCRIPTIONS)
    return loaded[warehouse.name]


def _ids(warehouse: Warehouse, scope: Scope, definition: CohortDefinition, as_of: date) -> set[str]:
    table = members(warehouse, scope, definition, as_of, today=TODAY)
    ids = [row["customer_id"] for row in warehouse.to_pyarrow(table).to_pylist()]
    assert len(ids) == len(set(ids)), "a member is listed twice"
    return set(ids)


@pytest.mark.parametrize(
    ("definition", "expected"), [s[1:] for s in SCENARIOS], ids=[s[0] for s in SCENARIOS]
)
def test_scenario(
    warehouse: Warehouse, scope: Scope, definition: CohortDefinition, expected: set[str]
) -> None:
    assert _ids(warehouse, scope, definition, D) == expected
    assert member_count(warehouse, scope, definition, D, today=TODAY) == len(expected)


def test_as_of_before_and_after_churn(warehouse: Warehouse, scope: Scope) -> None:
    active = CohortDefinition(status=("active",))
    # May 31: e still pays (until Jun 1); b (May 16) and c (May 15) too; a and g not yet.
    assert _ids(warehouse, scope, active, date(2025, 5, 31)) == {"b", "c", "e"}
    assert _ids(warehouse, scope, active, D) == {"a", "b", "c", "g"}
    churned = CohortDefinition(status=("cancelled",))
    assert _ids(warehouse, scope, churned, date(2025, 5, 31)) == set()
    assert _ids(warehouse, scope, churned, D) == {"e"}
    # e's tenure on May 31: Jan 1 → May 31 = 31 + 28 + 31 + 30 + 30 = 150.
    assert _ids(
        warehouse,
        scope,
        CohortDefinition(tenure_days_min=150, tenure_days_max=150),
        date(2025, 5, 31),
    ) == {"e"}


def test_given_status_applies_on_today(warehouse: Warehouse, scope: Scope) -> None:
    paused = CohortDefinition(status=("paused",))
    assert _ids(warehouse, scope, paused, D) == set()
    # On today g's given status "paused" stands although it pays.
    assert _ids(warehouse, scope, paused, TODAY) == {"g"}


def test_scope_isolation(warehouse: Warehouse, scope: Scope, new_scope) -> None:
    live = Scope(scope.org_id, livemode=True)
    load(warehouse, live, [Cust("z", datetime(2024, 1, 1), country="US")])
    assert _ids(warehouse, live, CohortDefinition(), D) == {"z"}
    assert _ids(warehouse, scope, CohortDefinition(countries=("US",)), D) == {"a", "d", "g"}
