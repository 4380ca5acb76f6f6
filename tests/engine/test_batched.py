"""Many cohorts at once (``engine.batched``) against one cohort at a time, on random data.

The one-at-a-time functions (``membership.members``, ``snapshots.snapshot_series``,
``snapshots.member_scores``) are the reference: on random populations and random
definitions, the relation built by one query must hold exactly each definition's members,
and the snapshots and score averages read through it must equal each cohort's own, on
DuckDB, PostgreSQL and Spark.
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from decimal import Decimal

import ibis
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.conftest import ENGINE_BACKENDS, POSTGRES, SPARK, per_backend
from tests.engine.state_rows import Cust, Sub, load
from tests.engine.test_membership_reference import (
    AS_OF,
    DAY0,
    customer_strategy,
    definition_strategy,
)

from cohortd.engine import batched
from cohortd.engine.membership import CohortDefinition, members
from cohortd.engine.periods import Interval, period_of
from cohortd.engine.snapshots import SnapshotQuery, member_scores, snapshot_series
from cohortd.warehouse import Warehouse


@pytest.fixture(params=ENGINE_BACKENDS)
def warehouse(request: pytest.FixtureRequest) -> Warehouse:
    """DuckDB, PostgreSQL and Spark."""
    return request.getfixturevalue(f"{request.param}_warehouse")


def _population(population: list[tuple]) -> tuple[list[Cust], list[Sub]]:  # type: ignore[type-arg]
    customers: list[Cust] = []
    subs: list[Sub] = []
    for n, (country, tags, score, status, plan, month, rows) in enumerate(population):
        cid = f"c{n}"
        customers.append(
            Cust(
                cid, datetime(2024, 1 + month, 1), country=country, tags=tags,
                engagement_score=score, status=status, plan_id=plan,
                segment=["a", "b", None][n % 3],
            )
        )  # fmt: skip
        subs.extend(
            Sub(
                f"{cid}_{k}", cid, DAY0 + timedelta(days=start),
                None if length is None else DAY0 + timedelta(days=start + length),
                mrr, plan_id=p, status=s,
            )
            for k, (start, length, mrr, p, s) in enumerate(rows)
        )  # fmt: skip
    return customers, subs


def _check_relation(
    warehouse: Warehouse,
    new_scope,  # type: ignore[no-untyped-def]
    population,  # type: ignore[no-untyped-def]
    definitions: list[CohortDefinition],
    as_of_is_today: bool,
) -> None:
    scope = new_scope()
    today = AS_OF if as_of_is_today else AS_OF + timedelta(days=1)
    customers, subs = _population(population)
    load(warehouse, scope, customers, subs)
    named = [(f"cohort_{i}", d) for i, d in enumerate(definitions)]
    with batched.member_relation(warehouse, scope, named, as_of=AS_OF, today=today) as relation:
        got = batched.ids_by_cohort(warehouse, relation)
    for cohort_id, definition in named:
        one = members(warehouse, scope, definition, AS_OF, today=today)
        expected = sorted(r["customer_id"] for r in warehouse.to_pyarrow(one).to_pylist())
        assert got.get(cohort_id, []) == expected, (cohort_id, definition)


# the shapes ``members_by_cohort`` answers by joins: one customer field's values alone,
# a sign-up range alone (generated cohorts are mostly these)
joined_strategy = st.one_of(
    st.builds(CohortDefinition, countries=st.sampled_from([("us",), ("DE", "fr"), ("US", "x")])),
    st.builds(CohortDefinition, segments=st.sampled_from([("a",), ("A", "b"), ("c",)])),
    st.builds(
        CohortDefinition,
        created_from=st.sampled_from([None, datetime(2024, 2, 1), datetime(2024, 3, 1, 12)]),
        created_before=st.sampled_from([None, datetime(2024, 3, 1), datetime(2024, 4, 1)]),
    ).filter(lambda d: d != CohortDefinition()),
)
RELATION_CASES = given(
    population=st.lists(customer_strategy, min_size=1, max_size=6),
    definitions=st.lists(st.one_of(definition_strategy, joined_strategy), min_size=1, max_size=5),
    as_of_is_today=st.booleans(),
)


@pytest.mark.parametrize("warehouse", ["duckdb", POSTGRES], indirect=True)
@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@RELATION_CASES
def test_relation_holds_each_definitions_members(
    warehouse: Warehouse,
    new_scope,  # type: ignore[no-untyped-def]
    population,  # type: ignore[no-untyped-def]
    definitions: list[CohortDefinition],
    as_of_is_today: bool,
) -> None:
    _check_relation(warehouse, new_scope, population, definitions, as_of_is_today)


# the same property on Spark, on 2 examples (each costs about 15 s there)
@pytest.mark.parametrize("warehouse", [SPARK], indirect=True)
@settings(
    max_examples=2, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@RELATION_CASES
def test_relation_holds_each_definitions_members_on_spark(
    warehouse: Warehouse,
    new_scope,  # type: ignore[no-untyped-def]
    population,  # type: ignore[no-untyped-def]
    definitions: list[CohortDefinition],
    as_of_is_today: bool,
) -> None:
    _check_relation(warehouse, new_scope, population, definitions, as_of_is_today)


@pytest.mark.parametrize("warehouse", ["duckdb", POSTGRES], indirect=True)
def test_generated_shapes_by_hand(warehouse: Warehouse, new_scope) -> None:  # type: ignore[no-untyped-def]
    """Customers c0..c3 sign up on the 1st of January..April 2024 in US, us, DE and no
    country, segments a, b, None, a (``_population``: by position). A cohort of
    ``countries=("US",)`` holds c0 and c1 (case-insensitive), ``("de", "FR")`` c2; a
    segment ``("A",)`` c0 and c3; a sign-up range [2024-02-01, 2024-04-01) c1 and c2 (the
    bound is half-open), one from 2024-03-01 on c2 and c3, one before 2024-02-01 c0. A
    cohort whose value nobody has is absent; a definition with two fields (country US
    and segment a) is answered by a filter: c0."""
    scope = new_scope()
    rows = [(c, None, None, None, None, m, []) for m, c in enumerate(["US", "us", "DE", None])]
    load(warehouse, scope, *_population(rows))
    named = [
        ("us", CohortDefinition(countries=("US",))),
        ("de", CohortDefinition(countries=("de", "FR"))),
        ("seg_a", CohortDefinition(segments=("A",))),
        ("feb_mar", CohortDefinition(
            created_from=datetime(2024, 2, 1), created_before=datetime(2024, 4, 1)
        )),
        ("from_mar", CohortDefinition(created_from=datetime(2024, 3, 1))),
        ("before_feb", CohortDefinition(created_before=datetime(2024, 2, 1))),
        ("nobody", CohortDefinition(countries=("JP",))),
        ("us_a", CohortDefinition(countries=("us",), segments=("a",))),
    ]  # fmt: skip
    with batched.member_relation(warehouse, scope, named, as_of=AS_OF, today=AS_OF) as relation:
        got = batched.ids_by_cohort(warehouse, relation)
    assert got == {
        "us": ["c0", "c1"],
        "de": ["c2"],
        "seg_a": ["c0", "c3"],
        "feb_mar": ["c1", "c2"],
        "from_mar": ["c2", "c3"],
        "before_feb": ["c0"],
        "us_a": ["c0"],
    }


TODAY = date(2025, 6, 20)


def _history(seed: int) -> tuple[list[Cust], list[Sub]]:
    """25 customers in three segments, EUR and USD, with scores; random paid spells."""
    rng = random.Random(seed)
    customers, subs = [], []
    for c in range(25):
        customers.append(
            Cust(
                f"c{c}", datetime(2024, 1 + c % 6, 1), segment=["x", "y", "z"][c % 3],
                health_score=rng.choice([None, 10.5, 33.3, 80.0, 99.9]),
                risk_score=rng.choice([None, 0.1, 50.0]),
            )
        )  # fmt: skip
        currency = rng.choice(["EUR", "USD"])
        day = date(2024, 1, 1) + timedelta(days=rng.randrange(0, 500))
        for k in range(rng.randrange(1, 4)):
            length = rng.choice([None, rng.randrange(10, 200)])
            end = None if length is None else day + timedelta(days=length)
            amount = rng.choice([0, 500, 1000, 1999])
            subs.append(Sub(f"s{c}_{k}", f"c{c}", day, end, amount, currency=currency))
            if end is None:
                break
            day = end + timedelta(days=rng.choice([0, 0, 15, 60]))
    return customers, subs


# Spark: the first seed (about 45 s there)
@pytest.mark.parametrize(
    ("warehouse", "seed"),
    per_backend({"duckdb": [4, 5], "postgres": [4, 5], "spark": [4]}),
    indirect=["warehouse"],
)
def test_snapshots_and_scores_equal_each_cohorts_own(
    warehouse: Warehouse,
    new_scope,  # type: ignore[no-untyped-def]
    seed: int,
) -> None:
    scope = new_scope()
    customers, subs = _history(seed)
    load(warehouse, scope, customers, subs)
    named = [
        ("seg_x", CohortDefinition(segments=("x",))),
        ("seg_y", CohortDefinition(segments=("y",))),
        ("all", CohortDefinition()),
        ("active", CohortDefinition(status=("active",))),
        ("none", CohortDefinition(segments=("nobody",))),  # empty: absent from the relation
    ]
    current = period_of(TODAY, Interval.month)
    query = SnapshotQuery(Interval.month, current - 5, current, TODAY, "EUR")
    with batched.member_relation(warehouse, scope, named, as_of=TODAY, today=TODAY) as relation:
        series = batched.snapshots_by_cohort(
            warehouse, scope, relation, [c for c, _ in named], query
        )
        scores = batched.scores_by_cohort(warehouse, scope, relation)
    for cohort_id, definition in named:
        ids = warehouse.to_pyarrow(members(warehouse, scope, definition, TODAY, today=TODAY))
        listed = pa.array(ids.column("customer_id").to_pylist(), pa.string())
        one = ibis.memtable(pa.table({"customer_id": listed}))
        assert series[cohort_id] == snapshot_series(warehouse, scope, one, query), cohort_id
        alone = member_scores(warehouse, scope, one)
        found = scores.get(cohort_id)
        got = (found.health, found.risk) if found else (None, None)
        assert got == (alone.health, alone.risk), cohort_id
    assert series["none"][-1].starting_mrr == 0 and series["none"][-1].member_count == 0


def test_scores_are_exact_averages(warehouse: Warehouse, new_scope) -> None:  # type: ignore[no-untyped-def]
    # health 10.5, 33.3 and none: (10.5 + 33.3) / 2 = 21.9 exactly (a float mean could end
    # in ...0000001); risk 0.1 three times: 0.3 / 3 = 0.1
    scope = new_scope()
    load(
        warehouse,
        scope,
        [
            Cust("a", health_score=10.5, risk_score=0.1, segment="s"),
            Cust("b", health_score=33.3, risk_score=0.1, segment="s"),
            Cust("c", health_score=None, risk_score=0.1, segment="s"),
        ],
        [],
    )
    named = [("s", CohortDefinition(segments=("s",)))]
    with batched.member_relation(warehouse, scope, named, as_of=TODAY, today=TODAY) as relation:
        (found,) = batched.scores_by_cohort(warehouse, scope, relation).values()
    assert (found.health, found.risk) == (Decimal("21.9"), Decimal("0.1"))
