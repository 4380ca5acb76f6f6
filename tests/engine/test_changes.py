"""engine.changes: change points of an MRR history and the ones a write makes new.

Scenario table with hand-worked answers, a property test against a slow day-by-day
reference, and the invariants of ``new_change_points``."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cohortd.engine.changes import (
    ChangeKind,
    MrrRow,
    change_points,
    conversion_days,
    event_currency,
    new_change_points,
    state_on,
)

D = date(2026, 1, 1)


def day(n: int) -> date:
    return D + timedelta(days=n)


def row(
    rid: str,
    mrr: int,
    start: int,
    end: int | None = None,
    *,
    plan: str = "p",
    currency: str = "USD",
    status: str | None = None,
) -> MrrRow:
    return MrrRow(
        rid, plan, currency, mrr, day(start), day(end) if end is not None else None, status
    )


def kinds(rows: list[MrrRow]) -> list[tuple[int, str, int, int]]:
    return [
        ((p.day - D).days, p.kind.value.split(".")[1], p.previous_mrr, p.mrr)
        for p in change_points(rows, currency="USD")
    ]


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        # one row from day 0, never ends: activated on day 0 (0 -> 1000)
        ([row("a", 1000, 0)], [(0, "activated", 0, 1000)]),
        # trial (MRR 0) days 0-9, paid from day 10: activation on day 10, not 0
        ([row("t", 0, 0, 10), row("a", 500, 10)], [(10, "activated", 0, 500)]),
        # 1000 on days 0-9, 2500 from 10: activated, then upgraded 1000 -> 2500
        (
            [row("a", 1000, 0, 10), row("b", 2500, 10)],
            [(0, "activated", 0, 1000), (10, "upgraded", 1000, 2500)],
        ),
        # 2500 then 1000: downgraded
        (
            [row("a", 2500, 0, 10), row("b", 1000, 10)],
            [(0, "activated", 0, 2500), (10, "downgraded", 2500, 1000)],
        ),
        # paid days 0-9, nothing 10-19, paid again from 20: cancelled, reactivated
        (
            [row("a", 1000, 0, 10), row("b", 1200, 20)],
            [(0, "activated", 0, 1000), (10, "cancelled", 1000, 0), (20, "reactivated", 0, 1200)],
        ),
        # two overlapping rows add up: 1000 from 0, +300 on days 5-9 -> 1300, back to 1000
        (
            [row("a", 1000, 0), row("b", 300, 5, 10)],
            [
                (0, "activated", 0, 1000),
                (5, "upgraded", 1000, 1300),
                (10, "downgraded", 1300, 1000),
            ],
        ),
        # a plan switch at the same MRR is no MRR change: no point on day 10
        (
            [row("a", 1000, 0, 10, plan="x"), row("b", 1000, 10, plan="y")],
            [(0, "activated", 0, 1000)],
        ),
        # a pause (MRR 0, status paused) then resume: cancelled (status paused), reactivated
        (
            [row("a", 1000, 0, 10), row("p", 0, 10, 20, status="paused"), row("c", 1000, 20)],
            [(0, "activated", 0, 1000), (10, "cancelled", 1000, 0), (20, "reactivated", 0, 1000)],
        ),
        # no row with MRR > 0: no change point
        ([row("t", 0, 0, 10)], []),
    ],
)
def test_scenarios(rows: list[MrrRow], expected: list[tuple[int, str, int, int]]) -> None:
    assert kinds(rows) == expected


def test_cancelled_carries_the_derived_status_and_plans() -> None:
    # paused from day 10: status that day = paused; ended with status lapsed: lapsed
    paused = change_points(
        [row("a", 1000, 0, 10), row("p", 0, 10, 20, status="paused")], currency="USD"
    )
    assert paused[-1].status == "paused"
    lapsed = change_points([row("a", 1000, 0, 10, status="lapsed")], currency="USD")
    assert lapsed[-1].kind is ChangeKind.cancelled and lapsed[-1].status == "lapsed"
    plain = change_points([row("a", 1000, 0, 10, status="active")], currency="USD")
    assert plain[-1].status == "cancelled"
    up = change_points(
        [row("a", 1000, 0, 10, plan="basic"), row("b", 2000, 10, plan="pro")], currency="USD"
    )
    assert (up[1].previous_plan_id, up[1].plan_id) == ("basic", "pro")


def test_only_new_change_points_and_the_backfill_cutoff() -> None:
    before = [row("a", 1000, 0)]
    # the import ends row a on day 30 and adds 2000 from day 30: one new point (upgrade)
    after = [row("a", 1000, 0, 30), row("b", 2000, 30)]
    new = new_change_points(before, after, currency="USD")
    assert [(p.day, p.kind) for p in new] == [(day(30), ChangeKind.upgraded)]
    # re-importing the same rows changes nothing
    assert new_change_points(after, after, currency="USD") == []
    # a cutoff after day 30 keeps even that one out
    assert new_change_points(before, after, currency="USD", since=day(31)) == []
    # a first import (nothing before) with cutoff day 5: the day-0 activation is too old
    assert new_change_points([], after, currency="USD", since=day(5))[0].day == day(30)


def test_mixed_currencies_convert_at_the_change_day() -> None:
    # billing USD; an EUR row of 10.00 converted at 1.5 USD per EUR = 1500 cents
    rows = [row("a", 1000, 0), row("b", 1000, 10, currency="EUR")]

    def convert(minor: int, source: str, on: date) -> int:
        assert source == "EUR" and on == day(10)
        return minor * 3 // 2

    points = change_points(rows, currency="USD", convert=convert)
    assert [(p.day, p.previous_mrr, p.mrr) for p in points] == [
        (day(0), 0, 1000),
        (day(10), 1000, 2500),
    ]
    with pytest.raises(ValueError, match="converter"):
        change_points(rows, currency="USD")


def test_event_currency_is_billing_else_earliest_row() -> None:
    rows = [row("b", 1, 5, currency="EUR"), row("a", 1, 0, currency="JPY")]
    assert event_currency(rows, "USD") == "USD"
    assert event_currency(rows, None) == "JPY"
    assert event_currency([], None) is None


# -- property: the same points as a slow day-by-day walk --------------------------------
def _reference(rows: list[MrrRow], horizon: int) -> list[tuple[date, int, int]]:
    points = []
    for n in range(-1, horizon + 1):
        on = day(n)
        previous = sum(r.mrr_minor for r in rows if r.covers(on - timedelta(days=1)))
        now = sum(r.mrr_minor for r in rows if r.covers(on))
        if previous != now:
            points.append((on, previous, now))
    return points


rows_strategy = st.lists(
    st.tuples(
        st.integers(0, 3000),
        st.integers(0, 40),
        st.one_of(st.none(), st.integers(1, 20)),
    ),
    max_size=6,
)


@settings(max_examples=200, deadline=None)
@given(rows_strategy)
def test_matches_a_day_by_day_walk(spec: list[tuple[int, int, int | None]]) -> None:
    rows = [
        row(f"r{i}", mrr, start, None if length is None else start + length)
        for i, (mrr, start, length) in enumerate(spec)
    ]
    points = change_points(rows, currency="USD")
    assert [(p.day, p.previous_mrr, p.mrr) for p in points] == _reference(rows, 62)
    # invariants: the first paid point is an activation, paid->0 is a cancel, and
    # every later 0->paid is a reactivation
    seen_paid = False
    for p in points:
        if p.mrr == 0:
            assert p.kind is ChangeKind.cancelled
        elif p.previous_mrr == 0:
            assert p.kind is (ChangeKind.reactivated if seen_paid else ChangeKind.activated)
        else:
            assert p.kind is (
                ChangeKind.upgraded if p.mrr > p.previous_mrr else ChangeKind.downgraded
            )
        seen_paid = seen_paid or p.mrr > 0
        assert state_on(rows, p.day, currency="USD").mrr == p.mrr


@settings(max_examples=100, deadline=None)
@given(rows_strategy, rows_strategy)
def test_new_points_are_after_minus_before(
    first: list[tuple[int, int, int | None]], second: list[tuple[int, int, int | None]]
) -> None:
    def build(spec: list[tuple[int, int, int | None]]) -> list[MrrRow]:
        return [
            row(f"r{i}", m, s, None if n is None else s + n) for i, (m, s, n) in enumerate(spec)
        ]

    before, after = build(first), build(second)
    new = new_change_points(before, after, currency="USD")
    old_keys = {p.key for p in change_points(before, currency="USD")}
    assert all(p.key not in old_keys for p in new)
    assert {p.key for p in new} | (
        old_keys & {p.key for p in change_points(after, currency="USD")}
    ) == {p.key for p in change_points(after, currency="USD")}


two_currency_rows = st.lists(
    st.tuples(
        st.integers(0, 3000),
        st.integers(0, 40),
        st.one_of(st.none(), st.integers(1, 20)),
        st.sampled_from(["USD", "EUR"]),
    ),
    max_size=6,
)


@settings(max_examples=200, deadline=None)
@given(two_currency_rows, two_currency_rows, st.integers(0, 70))
def test_conversion_days_hold_every_rate_the_diff_and_todays_state_ask_for(
    first: list[tuple[int, int, int | None, str]],
    second: list[tuple[int, int, int | None, str]],
    today: int,
) -> None:
    """The outbox loads the rates of ``conversion_days`` and nothing else: every rate that
    ``new_change_points`` and ``state_on`` on today ask for must be among them (an EUR row
    covering the day before a change, or today, once asked for a rate never loaded)."""

    def build(spec: list[tuple[int, int, int | None, str]]) -> list[MrrRow]:
        return [
            row(f"r{i}", m, s, None if n is None else s + n, currency=c)
            for i, (m, s, n, c) in enumerate(spec)
        ]

    before, after = build(first), build(second)
    loaded = conversion_days(before + after, "USD", also=(day(today),))
    asked: set[tuple[str, date]] = set()

    def convert(minor: int, source: str, on: date) -> int:
        asked.update({(source, on), ("USD", on)})  # a factor needs both currencies' rates
        return minor * 3 // 2

    new_change_points(before, after, currency="USD", convert=convert)
    state_on(after, day(today), currency="USD", convert=convert)
    assert asked <= loaded
