"""Cohort intelligence on synthetic data: generated cohorts, snapshots, vintage curve.

    uv run python benchmarks/intelligence.py [--customers 1000000] [--members 100000] [--repeat 3]

Generates customers and an MRR history (price changes, churn, reactivations, all USD) in
a temporary DuckDB warehouse with DuckDB's own ``range()`` (deterministic hashing), a
temporary SQLite control plane, then times, median of ``--repeat`` runs:

- ``POST /api/cohorts/definitions`` on every customer (service call, no HTTP): the first
  call (inserts) once, then the upsert call;
- 36 monthly snapshots of a ``--members`` cohort (engine), next to the same numbers from
  one hand-written DuckDB SQL query, checked equal;
- the 36-month vintage curve of that cohort (engine);

and prints a Markdown table (pasted into docs/benchmarks.md, "Intelligence").
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from cohortd.db import make_engine, make_sessionmaker
from cohortd.db.migrate import upgrade
from cohortd.engine import derived
from cohortd.engine.curves import vintage_curve
from cohortd.engine.periods import Interval, period_of
from cohortd.engine.snapshots import Movement, SnapshotQuery, snapshot_series
from cohortd.intelligence.definitions import generate
from cohortd.keys import service as keys
from cohortd.warehouse import Scope, Warehouse, connect, scoped
from cohortd.warehouse.tables import CUSTOMERS

TODAY = date(2025, 6, 30)
MONTHS = 36

_GENERATE = """
INSERT INTO customers (org_id, livemode, id, created_at, segment, territory, owner_id,
                       health_score, risk_score)
SELECT '{org}', false, printf('cus_%08d', i),
       TIMESTAMP '2021-01-01' + to_days(CAST(hash(i, 6) % 1600 AS INTEGER)),
       ['SMB', 'Mid-Market', 'Enterprise', NULL][1 + CAST(hash(i, 7) % 4 AS BIGINT)],
       ['EMEA', 'NA-East', 'NA-West', 'APAC', 'LATAM'][1 + CAST(hash(i, 12) % 5 AS BIGINT)],
       printf('rep_%03d', CAST(hash(i, 13) % 200 AS BIGINT)),
       CAST(hash(i, 14) % 100 AS DOUBLE), CAST(hash(i, 15) % 100 AS DOUBLE)
FROM range({n}) t(i);

CREATE TEMP TABLE plan AS
SELECT i, printf('cus_%08d', i) AS customer_id,
       DATE '2021-01-01' + CAST(hash(i, 6) % 1600 AS INTEGER) AS s,
       1000 + CAST(hash(i, 9) % 90000 AS BIGINT) AS mrr,
       CASE WHEN hash(i, 16) % 2 = 0
            THEN DATE '2021-01-01' + CAST(hash(i, 6) % 1600 + 60 + hash(i, 17) % 300 AS INTEGER)
       END AS x,
       CASE WHEN hash(i, 10) % 3 = 0
            THEN DATE '2021-01-01' + CAST(hash(i, 6) % 1600 + 30 + hash(i, 11) % 500 AS INTEGER)
       END AS c,
       0.7 + (hash(i, 18) % 70) / 100.0 AS k
FROM range({n}) t(i);

INSERT INTO subscriptions (org_id, livemode, id, customer_id, plan_id, currency, mrr_minor,
                           start_date, end_date, status)
SELECT '{org}', false, printf('sub_%08d_a', i), customer_id, 'basic', 'USD', mrr, s,
       CASE WHEN x IS NOT NULL AND (c IS NULL OR x < c) THEN x ELSE c END, 'active'
FROM plan
UNION ALL
SELECT '{org}', false, printf('sub_%08d_b', i), customer_id, 'pro', 'USD',
       CAST(mrr * k AS BIGINT), x, c, 'active'
FROM plan WHERE x IS NOT NULL AND (c IS NULL OR x < c)
UNION ALL
SELECT '{org}', false, printf('sub_%08d_r', i), customer_id, 'basic', 'USD', mrr,
       c + 90, NULL, 'active'
FROM plan WHERE c IS NOT NULL AND hash(i, 19) % 5 = 0
"""

# The same 36 snapshots by hand (USD only, so no conversion): per period i, s on the last
# day of month i − 1 and e on the last day of month i, classified per member.
_HAND_SNAPSHOTS = """
WITH m AS (SELECT id AS customer_id FROM customers
           WHERE org_id = $org AND NOT livemode AND id < $bound),
days AS (SELECT i AS idx,
                CAST(last_day(CAST($first AS DATE) + to_months(CAST(i AS INTEGER) - 1)) AS DATE)
                  AS day
         FROM range(0, $months + 1) t(i)),
subs AS (SELECT * FROM subscriptions
         WHERE org_id = $org AND NOT livemode AND mrr_minor > 0),
mrr AS (SELECT s.customer_id, d.idx, sum(s.mrr_minor) AS m
        FROM subs s SEMI JOIN m ON s.customer_id = m.customer_id
        JOIN days d ON s.start_date <= d.day AND (s.end_date IS NULL OR s.end_date > d.day)
        GROUP BY 1, 2),
pairs AS (SELECT coalesce(a.customer_id, b.customer_id) AS customer_id,
                 coalesce(b.idx, a.idx + 1) AS i, coalesce(a.m, 0) AS s, coalesce(b.m, 0) AS e
          FROM (SELECT * FROM mrr WHERE idx < $months) a
          FULL JOIN (SELECT * FROM mrr WHERE idx >= 1) b
            ON a.customer_id = b.customer_id AND a.idx + 1 = b.idx),
first_paid AS (SELECT customer_id, min(start_date) AS ps FROM subs GROUP BY 1),
tagged AS (SELECT p.*, d.day AS last, date_trunc('month', d.day) AS first, f.ps
           FROM pairs p JOIN days d ON d.idx = p.i LEFT JOIN first_paid f USING (customer_id))
SELECT i, sum(s) AS starting, sum(e) AS ending,
       sum(CASE WHEN s > 0 AND e = 0 THEN s ELSE 0 END) AS churn,
       count(*) FILTER (WHERE s > 0 AND e = 0) AS churned,
       sum(CASE WHEN s = 0 AND ps BETWEEN first AND last THEN e ELSE 0 END) AS new,
       sum(CASE WHEN s = 0 AND NOT (ps BETWEEN first AND last) THEN e ELSE 0 END) AS react,
       sum(CASE WHEN s > 0 AND e > s THEN e - s ELSE 0 END) AS expansion,
       sum(CASE WHEN e > 0 AND s > e THEN s - e ELSE 0 END) AS contraction
FROM tagged GROUP BY i ORDER BY i
"""


def _median(repeat: int, action: Callable[[], Any]) -> tuple[float, Any]:
    timings: list[float] = []
    result: Any = None
    for _ in range(repeat):
        began = time.perf_counter()
        result = action()
        timings.append(time.perf_counter() - began)
    return statistics.median(timings), result


def _generate(warehouse: Warehouse, org: str, customers: int) -> float:
    began = time.perf_counter()
    raw = warehouse.con.con
    for statement in _GENERATE.format(n=customers, org=org).split(";\n"):
        if statement.strip():
            raw.execute(statement)
    with warehouse.transaction():
        derived.refresh(warehouse, Scope(org, livemode=False))  # as the import's catch-up
    return time.perf_counter() - began


def _check(engine: list[Any], hand: list[tuple[Any, ...]]) -> None:
    """Engine snapshots (USD major units) must equal the hand-written SQL (minor units)."""
    cent = Decimal("0.01")
    for snap, row in zip(engine, hand, strict=True):
        _, starting, ending, churn, churned, new, react, expansion, contraction = row
        expected = {
            "starting": starting, "ending": ending, Movement.churn: churn, Movement.new: new,
            Movement.reactivation: react, Movement.expansion: expansion,
            Movement.contraction: contraction,
        }  # fmt: skip
        found = {
            "starting": snap.starting_mrr, "ending": snap.ending_mrr,
            **{m: snap.moved(m) for m in expected if isinstance(m, Movement)},
        }  # fmt: skip
        for key, minor in expected.items():
            if found[key] != Decimal(int(minor)) * cent:
                raise SystemExit(f"{snap.period_start} {key}: {found[key]} != {minor} cents")
        if snap.churn_count != churned:
            raise SystemExit(f"{snap.period_start} churn_count {snap.churn_count} != {churned}")


def run(customers: int, cohort_size: int, repeat: int) -> str:
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'control.sqlite3'}"
        upgrade(url)
        engine = make_engine(url)
        sessions = make_sessionmaker(engine)
        with sessions() as session:
            org = keys.create_organization(session, name="bench", base_currency="USD")
            session.commit()
            scope = Scope(org.id, livemode=False)
        warehouse = connect(f"duckdb:///{Path(folder) / 'bench.duckdb'}")
        generated = _generate(warehouse, scope.org_id, customers)
        raw = warehouse.con.con
        rows = raw.execute("SELECT count(*) FROM subscriptions").fetchone()[0]

        def definitions() -> Any:
            with sessions() as session:
                result = generate(session, warehouse, scope)
                session.commit()
                return result

        first_s, first = _median(1, definitions)
        upsert_s, upsert = _median(repeat, definitions)

        bound = f"cus_{cohort_size:08d}"
        customers_table = scoped(warehouse, CUSTOMERS, scope)
        members = customers_table.filter(customers_table.id < bound).select(customer_id="id")
        last = period_of(TODAY, Interval.month)
        query = SnapshotQuery(Interval.month, last - MONTHS + 1, last, TODAY, "USD")
        snap_s, snaps = _median(repeat, lambda: snapshot_series(warehouse, scope, members, query))
        params = {
            "org": scope.org_id,
            "bound": bound,
            "first": snaps[0].period_start,
            "months": MONTHS,
        }
        hand_s, hand = _median(repeat, lambda: raw.execute(_HAND_SNAPSHOTS, params).fetchall())
        _check(snaps, hand)
        curve_s, curve = _median(
            repeat,
            lambda: vintage_curve(
                warehouse, scope, members, today=TODAY, base_currency="USD", months=MONTHS
            ),
        )
        warehouse.close()
        engine.dispose()
    table = [
        ("POST /api/cohorts/definitions, first call", first_s, _counts(first.as_json())),
        ("POST /api/cohorts/definitions, upsert", upsert_s, _counts(upsert.as_json())),
        (f"{MONTHS} monthly snapshots, {cohort_size:,} members (engine)", snap_s,
         f"NRR {snaps[-1].as_json()['nrr']} in {snaps[-1].period_start:%Y-%m}"),
        (f"same {MONTHS} snapshots, hand-written DuckDB SQL", hand_s, "equal, checked"),
        (f"{MONTHS}-month vintage curve, {cohort_size:,} members", curve_s,
         f"{len(curve.points)} months, {curve.initial_customers:,} paying members"),
    ]  # fmt: skip
    lines = [
        f"{customers:,} customers, {rows:,} subscription rows (generated in {generated:.1f} s), "
        f"DuckDB + SQLite, as of {TODAY}, median of {repeat}, "
        f"{platform.machine()} / {platform.python_version()}.",
        "",
        "| operation | median | result |",
        "|---|---:|---|",
        *[f"| {name} | {seconds * 1000:,.0f} ms | {result} |" for name, seconds, result in table],
    ]
    return "\n".join(lines)


def _counts(answer: dict[str, Any]) -> str:
    return f"{answer['total_cohorts']} cohorts ({answer['inserted']} inserted)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(run(args.customers, args.members, args.repeat))


if __name__ == "__main__":
    main()
