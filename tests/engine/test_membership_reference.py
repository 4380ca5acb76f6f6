"""Membership against a brute-force Python reference of SPEC §1 + §3, on random data.

The reference is written straight from the SPEC's sentences, row by row, without Ibis;
Hypothesis draws small populations and definitions and both must name the same members
(``members``), count them (``member_count``) and list the first ones around a cursor
(``first_member_ids``, one customer per chunk so that the walk takes several rounds).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.engine.state_rows import Cust, Sub, load

from cohortd.engine.membership import CohortDefinition, first_member_ids, member_count, members
from cohortd.warehouse import Warehouse

DAY0 = date(2025, 1, 1)
AS_OF = DAY0 + timedelta(days=20)


def _reference_state(
    cust: Cust, subs: list[Sub], day: date, today: date
) -> tuple[str | None, str | None, int | None]:
    covering = [s for s in subs if s.start <= day and (s.end is None or s.end > day)]
    ended = [s for s in subs if s.end is not None and s.end <= day]
    if any(s.mrr_minor > 0 for s in covering):
        derived = "active"
    elif any((s.status or "").lower() == "paused" for s in covering):
        derived = "paused"
    elif covering:
        derived = "trialing"
    elif ended:
        last = max(s.end for s in ended if s.end is not None)
        last_rows = [s for s in ended if s.end == last]
        derived = (
            "lapsed"
            if any((s.status or "").lower() == "lapsed" for s in last_rows)
            else "cancelled"
        )
    else:
        derived = None
    best = sorted(covering, key=lambda s: (-s.mrr_minor, s.plan_id is None, s.plan_id or ""))
    derived_plan = best[0].plan_id if best else None
    status = cust.status if day == today and cust.status is not None else derived
    plan = cust.plan_id if day == today and cust.plan_id is not None else derived_plan
    paid = [s.start for s in subs if s.mrr_minor > 0]
    first = min(paid) if paid else None
    tenure = (day - first).days if first is not None and first <= day else None
    return status, plan, tenure


def _in(value: str | None, wanted: tuple[str, ...]) -> bool:
    return not wanted or (value is not None and value.lower() in {w.lower() for w in wanted})


def _reference_member(
    cust: Cust, subs: list[Sub], d: CohortDefinition, day: date, today: date
) -> bool:
    status, plan, tenure = _reference_state(cust, subs, day, today)
    tags = {t.lower() for t in cust.tags or ()}
    return (
        _in(status, d.status)
        and _in(plan, d.plan_ids)
        and (d.tenure_days_min is None or (tenure is not None and tenure >= d.tenure_days_min))
        and (d.tenure_days_max is None or (tenure is not None and tenure <= d.tenure_days_max))
        and all(t.lower() in tags for t in d.tags_include)
        and not any(t.lower() in tags for t in d.tags_exclude)
        and (
            d.engagement_score_min is None
            or (
                cust.engagement_score is not None
                and cust.engagement_score >= d.engagement_score_min
            )
        )
        and _in(cust.country, d.countries)
        and (d.created_from is None or cust.created_at >= d.created_from)
        and (d.created_before is None or cust.created_at < d.created_before)
    )


subs_strategy = st.lists(
    st.tuples(
        st.sampled_from(
            [0, 10, 15, 20, 21, 25]
        ),  # start offset: tenure 20, 10, 5, 0 or unpaid on AS_OF
        st.sampled_from([None, None, 1, 5, 10]),  # length
        st.sampled_from([0, 100, 500]),
        st.sampled_from(["a", "b", None]),
        st.sampled_from(["active", "paused", "PAUSED", "lapsed", "cancelled", "trialing"]),
    ),
    max_size=3,
)
customer_strategy = st.tuples(
    st.sampled_from(["US", "us", "DE", None]),
    st.sampled_from([None, (), ("vip",), ("VIP", "beta"), ("beta",)]),
    st.sampled_from([None, 0.2, 0.5, 0.8]),
    st.sampled_from([None, None, "active", "paused"]),
    st.sampled_from([None, None, "a"]),
    st.integers(0, 3),  # created month offset
    subs_strategy,
)
definition_strategy = st.builds(
    CohortDefinition,
    status=st.sampled_from(
        [
            (),
            (),
            ("active",),
            ("paused",),
            ("trialing",),
            ("lapsed",),
            ("cancelled",),
            ("paused", "trialing"),
            ("lapsed", "cancelled"),
            ("active", "lapsed"),
        ]
    ),
    tenure_days_min=st.sampled_from([None, 0, 5, 10]),
    tenure_days_max=st.sampled_from([None, 5, 15]),
    plan_ids=st.sampled_from([(), (), ("a",), ("B",)]),
    tags_include=st.sampled_from([(), (), ("vip",), ("vip", "beta")]),
    tags_exclude=st.sampled_from([(), (), ("beta",)]),
    engagement_score_min=st.sampled_from([None, None, 0.5]),
    countries=st.sampled_from([(), (), ("us",), ("DE", "fr")]),
    created_from=st.sampled_from([None, datetime(2024, 2, 1)]),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    population=st.lists(customer_strategy, min_size=1, max_size=6),
    definition=definition_strategy,
    as_of_is_today=st.booleans(),
)
def test_engine_agrees_with_reference(
    duckdb_warehouse: Warehouse,
    new_scope,
    population,
    definition: CohortDefinition,
    as_of_is_today: bool,
) -> None:
    scope = new_scope()
    today = AS_OF if as_of_is_today else AS_OF + timedelta(days=1)
    customers: list[Cust] = []
    rows: dict[str, list[Sub]] = {}
    for n, (country, tags, score, status, plan, month, subs) in enumerate(population):
        cid = f"c{n}"
        customers.append(
            Cust(
                cid,
                datetime(2024, 1 + month, 1),
                country=country,
                tags=tags,
                engagement_score=score,
                status=status,
                plan_id=plan,
            )
        )
        rows[cid] = [
            Sub(
                f"{cid}_{k}",
                cid,
                DAY0 + timedelta(days=start),
                None if length is None else DAY0 + timedelta(days=start + length),
                mrr,
                plan_id=p,
                status=s,
            )
            for k, (start, length, mrr, p, s) in enumerate(subs)
        ]
    load(duckdb_warehouse, scope, customers, [s for subs in rows.values() for s in subs])
    table = members(duckdb_warehouse, scope, definition, AS_OF, today=today)
    got = {r["customer_id"] for r in duckdb_warehouse.to_pyarrow(table).to_pylist()}
    expected = {
        c.id for c in customers if _reference_member(c, rows[c.id], definition, AS_OF, today)
    }
    assert got == expected
    # the count and the first ids of a page, by their own (compiled, chunked) paths
    assert member_count(duckdb_warehouse, scope, definition, AS_OF, today=today) == len(expected)
    ordered = sorted(expected)
    walk = {"limit": 2, "today": today, "chunk": 1}
    first = first_member_ids(duckdb_warehouse, scope, definition, AS_OF, **walk)
    assert first == ordered[:2]
    if ordered:
        after = first_member_ids(
            duckdb_warehouse, scope, definition, AS_OF, after=ordered[0], **walk
        )
        assert after == ordered[1:3]
        before = first_member_ids(
            duckdb_warehouse, scope, definition, AS_OF, before=ordered[-1], **walk
        )
        assert before == ordered[-2::-1][:2]
