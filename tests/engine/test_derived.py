"""The derived tables (``engine.derived``) against a slow, obvious Python reference.

Random histories (overlapping rows, touching rows, zero-MRR rows, several currencies,
open ends) are loaded, refreshed, and every derived row is compared with the reference,
on DuckDB, PostgreSQL and Spark; then a partial refresh of a few customers is checked to leave
the others alone and to be equal to a full refresh.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

import ibis
import pytest
from tests.conftest import ENGINE_BACKENDS
from tests.engine.state_rows import Cust, Sub, load

from cohortd.engine import cohort_deltas, derived
from cohortd.engine.periods import Interval, first_day, period_of
from cohortd.warehouse import Scope, Warehouse, scoped
from cohortd.warehouse.tables import (
    COHORT_DELTAS,
    CUSTOMER_FACTS,
    MRR_SEGMENTS,
    PAID_SPELLS,
    SEVERAL_PAIRS,
)

DAY0 = date(2023, 1, 1)


@pytest.fixture(params=ENGINE_BACKENDS)
def warehouse(request: pytest.FixtureRequest) -> Warehouse:
    """DuckDB, PostgreSQL and Spark."""
    return request.getfixturevalue(f"{request.param}_warehouse")


def _random_history(rng: random.Random, n: int) -> tuple[list[Cust], list[Sub]]:
    customers, subs = [], []
    for i in range(n):
        cid = f"cus_{i:03d}"
        given = rng.choice([None, "EUR"]) if rng.random() < 0.2 else None
        country = rng.choice([None, "de", "US", "jp"])
        customers.append(Cust(id=cid, currency=given, country=country))
        for j in range(rng.randint(0, 4)):
            start = DAY0 + timedelta(days=rng.randint(0, 60))
            end = None if rng.random() < 0.3 else start + timedelta(days=rng.randint(1, 40))
            if j and rng.random() < 0.3:  # touch the previous row exactly
                prev = subs[-1]
                if prev.customer_id == cid and prev.end is not None:
                    start = prev.end
                    end = None if rng.random() < 0.5 else start + timedelta(days=10)
            subs.append(
                Sub(
                    id=f"sub_{i:03d}_{j}",
                    customer_id=cid,
                    start=start,
                    end=end,
                    mrr_minor=rng.choice([0, 0, 500, 500, 1200]),
                    currency=rng.choice(["USD", "USD", "EUR"]),
                )
            )
    return customers, subs


def _covers(sub: Sub, day: date) -> bool:
    return sub.start <= day and (sub.end is None or day < sub.end)


def _reference(customers: list[Cust], subs: list[Sub]) -> dict[str, set[tuple[Any, ...]]]:
    """Day by day over a window wider than every row: obviously right, slow."""
    horizon = [DAY0 + timedelta(days=d) for d in range(0, 140)]
    end_of_time = horizon[-1]
    facts, spells, segments = set(), set(), set()
    for cust in customers:
        rows = [s for s in subs if s.customer_id == cust.id]
        paying = [s for s in rows if s.mrr_minor > 0]
        level = {
            day: {
                c: sum(s.mrr_minor for s in paying if s.currency == c and _covers(s, day))
                for c in {s.currency for s in paying}
            }
            for day in horizon
        }
        paid_days = [d for d in horizon if any(v > 0 for v in level[d].values())]
        ps = paid_days[0] if paid_days else None
        first = min(rows, key=lambda s: (s.start, s.id)).currency if rows else None
        currencies = {s.currency for s in paying}
        single = len(currencies) == 1
        pay_currency = next(iter(currencies)) if single else None
        initial = sum(level[ps].values()) if single and ps else None
        country = cust.country.upper() if cust.country else None
        billing = cust.currency or first
        facts.add((cust.id, ps, billing, country, pay_currency, initial, len(currencies)))
        if ps is None:
            continue

        def runs(value_of: Any) -> list[tuple[date, date | None, Any]]:
            found: list[tuple[date, date | None, Any]] = []
            start, current = None, None
            for day in horizon:
                value = value_of(day)
                if value != current:
                    if current:
                        found.append((start, day, current))
                    start, current = day, value
            if current:  # still running at the horizon's end: an open end
                found.append((start, None, current))
            return found

        for start, end, _ in runs(lambda d, lv=level: any(v > 0 for v in lv[d].values())):
            spells.add((cust.id, ps, billing, country, start, end))
        for c in currencies:
            for start, end, lvl in runs(lambda d, c=c, lv=level: lv[d][c]):
                segments.add(
                    (cust.id, ps, billing, country, pay_currency, initial, c, start, end, lvl)
                )
    assert all(s.end is None or s.end < end_of_time for s in subs)
    return {
        CUSTOMER_FACTS: facts,
        PAID_SPELLS: spells,
        MRR_SEGMENTS: segments,
        SEVERAL_PAIRS: _reference_several(segments),
    }


def _month_end(p: int) -> date:
    return first_day(p + 1, Interval.month) - timedelta(days=1)


def _reference_several(segments: set[tuple[Any, ...]]) -> set[tuple[Any, ...]]:
    """Per member in several currencies, every month where some currency's MRR on its
    last day differs from the month before's: the MRR of each currency paid on either."""
    own: dict[str, list[tuple[Any, ...]]] = {}
    for row in segments:
        if row[4] is None:  # no pay_currency: several
            own.setdefault(row[0], []).append(row)
    found = set()
    for cid, rows in own.items():
        ps = rows[0][1]

        def mrr(day: date, rows: list[tuple[Any, ...]] = rows) -> dict[str, int]:
            levels: dict[str, int] = {}
            for r in rows:
                if r[7] <= day and (r[8] is None or day < r[8]):
                    levels[r[6]] = levels.get(r[6], 0) + r[9]
            return levels

        last = max(period_of(r[8] or r[7], Interval.month) for r in rows) + 1
        for p in range(period_of(ps, Interval.month), last + 1):
            s, e = mrr(_month_end(p - 1)), mrr(_month_end(p))
            if s != e:
                for c in s.keys() | e.keys():
                    found.add((cid, ps, p, c, s.get(c, 0), e.get(c, 0)))
    return found


_COLUMNS = {
    CUSTOMER_FACTS: (
        "customer_id",
        "paid_started_at",
        "currency",
        "country",
        "pay_currency",
        "initial_minor",
        "pay_currencies",
    ),
    PAID_SPELLS: (
        "customer_id",
        "paid_started_at",
        "currency",
        "country",
        "start_date",
        "end_date",
    ),
    MRR_SEGMENTS: (
        "customer_id",
        "paid_started_at",
        "billing_currency",
        "country",
        "pay_currency",
        "initial_minor",
        "currency",
        "start_date",
        "end_date",
        "level_minor",
    ),
    SEVERAL_PAIRS: ("customer_id", "paid_started_at", "p", "currency", "s", "e"),
}


def _stored(warehouse: Warehouse, scope: Scope) -> dict[str, set[tuple[Any, ...]]]:
    found = {}
    for name, columns in _COLUMNS.items():
        rows = warehouse.to_pyarrow(scoped(warehouse, name, scope).select(*columns)).to_pylist()
        found[name] = {tuple(r[c] for c in columns) for r in rows}
        assert len(found[name]) == len(rows), f"duplicate rows in {name}"
    return found


_PERIOD_COLUMNS = {
    CUSTOMER_FACTS: ("0",),
    PAID_SPELLS: ("0", "start", "end"),
    MRR_SEGMENTS: ("0", "start", "end"),
}
_DAYS = {"0": "paid_started_at", "start": "start_date", "end": "end_date"}


def _check_period_numbers(warehouse: Warehouse, scope: Scope) -> int:
    """Every stored week/month number equals Python's ``period_of`` of its day (null
    with the day); answers how many were checked."""
    checked = 0
    for name, days in _PERIOD_COLUMNS.items():
        for row in warehouse.to_pyarrow(scoped(warehouse, name, scope)).to_pylist():
            for day in days:
                value = row[_DAYS[day]]
                for interval, prefix in ((Interval.week, "week"), (Interval.month, "month")):
                    column = f"{prefix}0" if day == "0" else f"{prefix}_{day}"
                    expected = None if value is None else period_of(value, interval)
                    assert row[column] == expected, (name, column, row)
                    checked += 1
    return checked


def test_derived_tables_equal_the_day_by_day_reference(warehouse, new_scope):
    rng = random.Random(20261122)
    # Spark: the first history only (a local Spark statement costs about a second)
    for _ in range(1 if warehouse.name == "spark" else 3):
        scope = new_scope()
        customers, subs = _random_history(rng, 25)
        load(warehouse, scope, customers, subs)
        expected = _reference(customers, subs)
        assert len(expected[SEVERAL_PAIRS]) > 5, "members in several currencies moved"
        assert _stored(warehouse, scope) == expected
        assert _check_period_numbers(warehouse, scope) > 100


def test_runs_in_several_currencies_make_one_spell_where_they_touch(warehouse, new_scope):
    """Spells are the union of each currency's runs of paying days: runs of two
    currencies that touch or overlap make one spell, a gap in every currency splits it,
    and a currency that pays again later opens a new run (and a new spell)."""
    scope = new_scope()
    d = lambda n: DAY0 + timedelta(days=n)  # noqa: E731
    customers = [Cust(id="cus_a"), Cust(id="cus_b", currency="JPY"), Cust(id="cus_c")]
    subs = [
        # a: USD [0,10) then EUR [10,20) touching, EUR again [25,30), USD [28, open)
        Sub(id="a1", customer_id="cus_a", start=d(0), end=d(10), mrr_minor=500, currency="USD"),
        Sub(id="a2", customer_id="cus_a", start=d(10), end=d(20), mrr_minor=700, currency="EUR"),
        Sub(id="a3", customer_id="cus_a", start=d(25), end=d(30), mrr_minor=700, currency="EUR"),
        Sub(id="a4", customer_id="cus_a", start=d(28), end=None, mrr_minor=100, currency="USD"),
        # b: one currency, overlapping rows, a zero row, a run that closes and reopens
        Sub(id="b1", customer_id="cus_b", start=d(3), end=d(9), mrr_minor=0, currency="USD"),
        Sub(id="b2", customer_id="cus_b", start=d(5), end=d(15), mrr_minor=300, currency="USD"),
        Sub(id="b3", customer_id="cus_b", start=d(8), end=d(15), mrr_minor=200, currency="USD"),
        Sub(id="b4", customer_id="cus_b", start=d(15), end=d(16), mrr_minor=500, currency="USD"),
        Sub(id="b5", customer_id="cus_b", start=d(40), end=d(41), mrr_minor=1, currency="USD"),
        # c: never pays
        Sub(id="c1", customer_id="cus_c", start=d(1), end=None, mrr_minor=0, currency="EUR"),
    ]
    load(warehouse, scope, customers, subs)
    stored = _stored(warehouse, scope)
    assert stored == _reference(customers, subs)
    spells = sorted((s[0], s[4], s[5]) for s in stored[PAID_SPELLS])
    assert spells == [
        ("cus_a", d(0), d(20)),
        ("cus_a", d(25), None),
        ("cus_b", d(5), d(16)),
        ("cus_b", d(40), d(41)),
    ]


def test_a_partial_refresh_touches_only_the_given_customers(warehouse, new_scope):
    rng = random.Random(7)
    scope, other = new_scope(), new_scope()
    customers, subs = _random_history(rng, 20)
    load(warehouse, scope, customers, subs)
    load(warehouse, other, customers, subs)
    before_other = _stored(warehouse, other)
    # change one customer's history behind the derived tables' back, then refresh it only
    changed = "cus_003"
    warehouse.run_statement(
        f"UPDATE subscriptions SET mrr_minor = mrr_minor + 100 WHERE org_id = '{scope.org_id}' "
        f"AND customer_id = '{changed}'"
    )
    ids = ibis.memtable({"customer_id": [changed]})
    with warehouse.transaction():
        derived.refresh(warehouse, scope, warehouse.create_temp_table("_ids_test", ids))
    warehouse.drop_temp_table("_ids_test")
    partial = _stored(warehouse, scope)
    with warehouse.transaction():
        derived.refresh(warehouse, scope)
    assert partial == _stored(warehouse, scope)
    assert _stored(warehouse, other) == before_other  # another organization: untouched
    bumped = [
        Sub(**{**vars(s), "mrr_minor": s.mrr_minor + 100}) if s.customer_id == changed else s
        for s in subs
    ]
    assert partial == _reference(customers, bumped)


def _written_by_an_older_version(
    tmp_path: Any, scope: Scope, seed: int, version: int, downgrade: Any
) -> tuple[str, list[Cust], list[Sub], dict[str, set[tuple[Any, ...]]]]:
    """A warehouse file loaded with random histories, then ``downgrade(raw)`` made to
    look as ``version`` wrote it; answers its URL, the data and its derived rows."""
    from cohortd.warehouse import connect

    url = f"duckdb:///{tmp_path / f'v{version}.duckdb'}"
    old = connect(url)
    old.ensure_schema()
    customers, subs = _random_history(random.Random(seed), 12)
    load(old, scope, customers, subs)
    expected = _stored(old, scope)
    raw = old.con.con
    downgrade(raw)
    raw.execute("DELETE FROM cohortd_warehouse_meta")
    raw.execute(f"INSERT INTO cohortd_warehouse_meta VALUES ({version})")
    old.close()
    return url, customers, subs, expected


def _upgraded(
    tmp_path: Any, scope: Scope, seed: int, version: int, downgrade: Any
) -> tuple[Warehouse, list[Cust], list[Sub], dict[str, set[tuple[Any, ...]]]]:
    """``_written_by_an_older_version``, then opened again: upgraded on start."""
    from cohortd.warehouse import connect
    from cohortd.warehouse.tables import SCHEMA_VERSION

    url, customers, subs, expected = _written_by_an_older_version(
        tmp_path, scope, seed, version, downgrade
    )
    upgraded = connect(url)
    upgraded.ensure_schema()
    assert upgraded.schema_version() == SCHEMA_VERSION == 6
    return upgraded, customers, subs, expected


def test_a_version_1_warehouse_gets_its_derived_tables_filled(tmp_path):
    """A warehouse written before the derived tables existed: filled on the next start."""
    from cohortd.warehouse.tables import DERIVED_TABLES

    def drop_derived(raw: Any) -> None:  # what version 1 had: no derived tables at all
        for name in DERIVED_TABLES:
            raw.execute(f"DROP TABLE {name}")

    scope = Scope("org_old", livemode=True)
    upgraded, customers, subs, expected = _upgraded(tmp_path, scope, 3, 1, drop_derived)
    assert _stored(upgraded, scope) == expected == _reference(customers, subs)
    upgraded.close()


def test_a_version_2_warehouse_gets_the_period_numbers(tmp_path):
    """Version 2's derived tables had no period numbers: made anew on the next start."""

    def drop_period_numbers(raw: Any) -> None:  # version 2's tables
        for name, days in _PERIOD_COLUMNS.items():
            for day in days:
                for prefix in ("week", "month"):
                    column = f"{prefix}0" if day == "0" else f"{prefix}_{day}"
                    raw.execute(f"ALTER TABLE {name} DROP COLUMN {column}")

    scope = Scope("org_v2", livemode=False)
    upgraded, customers, subs, _ = _upgraded(tmp_path, scope, 11, 2, drop_period_numbers)
    assert _stored(upgraded, scope) == _reference(customers, subs)
    assert _check_period_numbers(upgraded, scope) > 50
    upgraded.close()


def _reference_deltas(
    reference: dict[str, set[tuple[Any, ...]]],
) -> dict[tuple[Any, ...], list[int]]:
    """``cohort_deltas`` from the reference spells and segments, in plain Python: per
    unit, +x in the period of each start and -x in the period of each end; summed per
    key, zero sums dropped."""
    found: dict[tuple[Any, ...], list[int]] = {}

    def add(
        unit: int,
        kind: int,
        ps: date,
        currency: str | None,
        keep_ps: bool,
        start: date,
        end: date | None,
        values: tuple[int, int, int, int],
    ) -> None:
        interval = Interval.week if unit == cohort_deltas.UNIT_WEEK else Interval.month
        p0 = period_of(ps, interval)
        ends = [] if end is None else [(period_of(end, interval), -1)]
        for p, sign in [(period_of(start, interval), 1), *ends]:
            key = (unit, kind, p0, currency, ps if keep_ps else None, p)
            sums = found.setdefault(key, [0, 0, 0, 0])
            for i, v in enumerate(values):
                sums[i] += sign * v

    for unit in (cohort_deltas.UNIT_WEEK, cohort_deltas.UNIT_MONTH):
        for _, ps, _, _, start, end in reference[PAID_SPELLS]:
            add(unit, cohort_deltas.COUNT, ps, None, False, start, end, (1, 0, 0, 0))
        for row in reference[MRR_SEGMENTS]:
            _, ps, _, _, pay_currency, initial, c, start, end, level = row
            capped = min(level, initial) if pay_currency is not None else 0
            add(unit, cohort_deltas.MONEY, ps, c, False, start, end, (0, level, capped, 0))
            if pay_currency is not None and level == initial:
                add(unit, cohort_deltas.TRACK, ps, c, True, start, end, (0, 0, 0, initial))
            if pay_currency is not None and level > initial:
                add(unit, cohort_deltas.ABOVE, ps, c, True, start, end, (0, 0, 0, initial))
            if start == ps:  # INITIAL: one row in the cohort's own period, never taken off
                interval = Interval.week if unit == cohort_deltas.UNIT_WEEK else Interval.month
                p0 = period_of(ps, interval)
                key = (unit, cohort_deltas.INITIAL, p0, c, ps, p0)
                found.setdefault(key, [0, 0, 0, 0])[1] += level
    _reference_moves(reference[MRR_SEGMENTS], found)
    return {k: v for k, v in found.items() if any(v)}


def _reference_moves(
    segments: set[tuple[Any, ...]], found: dict[tuple[Any, ...], list[int]]
) -> None:
    """The ``MOVES`` rows, month by month: for each member paying in one currency, its
    MRR on the last day of every month and of the month before, classified as SPEC §4
    says (new in the month it first paid in)."""
    kinds = {
        "new": cohort_deltas.NEW,
        "reactivation": cohort_deltas.REACTIVATION,
        "expansion": cohort_deltas.EXPANSION,
        "contraction": cohort_deltas.CONTRACTION,
        "churn": cohort_deltas.CHURN,
    }
    own: dict[str, list[tuple[Any, ...]]] = {}
    for row in segments:
        if row[4] is not None:  # pay_currency: one currency
            own.setdefault(row[0], []).append(row)

    for rows in own.values():
        ps, currency = rows[0][1], rows[0][4]

        def mrr(day: date, rows: list[tuple[Any, ...]] = rows) -> int:
            return sum(r[9] for r in rows if r[7] <= day and (r[8] is None or day < r[8]))

        first = period_of(ps, Interval.month)
        last = max(period_of(r[8] or r[7], Interval.month) for r in rows) + 1
        for p in range(first, last + 1):
            s, e = mrr(_month_end(p - 1)), mrr(_month_end(p))
            if s > 0 and e == 0:
                kind = "churn"
            elif s == 0 and e > 0:
                kind = "new" if p == first else "reactivation"
            elif s > 0 and e != s:
                kind = "expansion" if e > s else "contraction"
            else:
                continue
            key = (cohort_deltas.UNIT_MONTH, kinds[kind], first, currency, None, p)
            sums = found.setdefault(key, [0, 0, 0, 0])
            for i, v in enumerate((1, s, e, 0)):
                sums[i] += v


def _stored_deltas(warehouse: Warehouse, scope: Scope) -> dict[tuple[Any, ...], list[int]]:
    keys = ("unit", "kind", "p0", "currency", "ps", "p")
    rows = warehouse.to_pyarrow(scoped(warehouse, COHORT_DELTAS, scope)).to_pylist()
    found = {tuple(r[k] for k in keys): [r["n"], r["v"], r["m"], r["t"]] for r in rows}
    assert len(found) == len(rows), "duplicate keys in cohort_deltas"
    return found


def test_cohort_deltas_equal_the_reference_after_full_and_partial_refreshes(warehouse, new_scope):
    """The kept sums equal a plain-Python recomputation from the reference spells and
    segments; a partial refresh of a few changed customers (old changes taken off, new
    ones added) gives the same sums as a full one; another scope is untouched."""
    rng = random.Random(23)
    scope, other = new_scope(), new_scope()
    customers, subs = _random_history(rng, 40)
    load(warehouse, scope, customers, subs)
    load(warehouse, other, *_random_history(random.Random(5), 10))
    before_other = _stored_deltas(warehouse, other)
    assert _stored_deltas(warehouse, scope) == _reference_deltas(_reference(customers, subs))

    changed = ["cus_003", "cus_007", "cus_011"]
    for cid in changed:  # each changed differently: a raise, a cancellation, a removal
        warehouse.run_statement(
            f"UPDATE subscriptions SET mrr_minor = mrr_minor + 100 WHERE org_id = "
            f"'{scope.org_id}' AND customer_id = '{cid}' AND mrr_minor > 0"
        )
    ids = ibis.memtable({"customer_id": changed})
    with warehouse.transaction():
        derived.refresh(warehouse, scope, warehouse.create_temp_table("_ids_deltas", ids))
    warehouse.drop_temp_table("_ids_deltas")
    bumped = [
        Sub(**{**vars(s), "mrr_minor": s.mrr_minor + 100})
        if s.customer_id in changed and s.mrr_minor > 0
        else s
        for s in subs
    ]
    partial = _stored_deltas(warehouse, scope)
    assert partial == _reference_deltas(_reference(customers, bumped))
    with warehouse.transaction():
        derived.refresh(warehouse, scope)
    assert _stored_deltas(warehouse, scope) == partial
    assert _stored_deltas(warehouse, other) == before_other


def test_a_version_3_warehouse_gets_its_cohort_deltas(tmp_path):
    """Version 3 had no ``cohort_deltas``: made and filled on the next start."""

    def drop_deltas(raw: Any) -> None:
        raw.execute(f"DROP TABLE {COHORT_DELTAS}")

    scope = Scope("org_v3", livemode=True)
    upgraded, customers, subs, expected = _upgraded(tmp_path, scope, 17, 3, drop_deltas)
    assert _stored(upgraded, scope) == expected
    assert _stored_deltas(upgraded, scope) == _reference_deltas(_reference(customers, subs))
    assert _stored_deltas(upgraded, scope)  # the random history is not empty
    upgraded.close()


def test_a_version_4_warehouse_gets_the_above_rows(tmp_path):
    """Version 4's ``cohort_deltas`` had no ``ABOVE`` rows (the reports read them since
    version 5): the derived tables are made anew on the next start."""

    def drop_above(raw: Any) -> None:
        raw.execute(f"DELETE FROM {COHORT_DELTAS} WHERE kind = {cohort_deltas.ABOVE}")

    scope = Scope("org_v4", livemode=False)
    upgraded, customers, subs, expected = _upgraded(tmp_path, scope, 29, 4, drop_above)
    assert _stored(upgraded, scope) == expected
    stored = _stored_deltas(upgraded, scope)
    assert stored == _reference_deltas(_reference(customers, subs))
    assert any(key[1] == cohort_deltas.ABOVE for key in stored)  # the history has raises
    upgraded.close()


def test_a_version_5_warehouse_gets_the_monthly_movements(tmp_path):
    """Version 5 had neither ``cohort_deltas``' movement rows nor ``several_pairs`` (the
    monthly metrics read them since version 6): made anew on the next start."""

    def drop_moves(raw: Any) -> None:
        kinds = ", ".join(str(k) for k in cohort_deltas.MOVES)
        raw.execute(f"DELETE FROM {COHORT_DELTAS} WHERE kind IN ({kinds})")
        raw.execute(f"DROP TABLE {SEVERAL_PAIRS}")

    scope = Scope("org_v5", livemode=False)
    upgraded, customers, subs, expected = _upgraded(tmp_path, scope, 30, 5, drop_moves)
    assert _stored(upgraded, scope) == expected
    assert expected[SEVERAL_PAIRS], "the history has members in several currencies"
    stored = _stored_deltas(upgraded, scope)
    assert stored == _reference_deltas(_reference(customers, subs))
    assert any(key[1] in cohort_deltas.MOVES for key in stored)
    upgraded.close()
