"""Cohort membership on synthetic data: exact member_count and the first members page.

    uv run python benchmarks/cohorts.py [--customers 1000000] [--repeat 5]

Generates customers and subscriptions in a temporary DuckDB warehouse (DuckDB's own
``range()``, deterministic hashing, no files), then times, median of ``--repeat`` runs:

- ``member_count`` of a five-criteria definition (status, tenure, countries, score, tag),
- the same count hand-written in DuckDB SQL, in the same run, as a reference,
- the first page (50) of ``GET /v1/cohorts/{id}/members`` (service call, no HTTP),
and prints a Markdown table (pasted into docs/benchmarks.md, "Cohorts").
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from cohortd.api.paging import PageParams
from cohortd.engine.membership import CohortDefinition, member_count, members
from cohortd.subscribers.service import page_of_members
from cohortd.warehouse import Scope, Warehouse, connect

SCOPE = Scope("org_bench", livemode=False)
AS_OF = date(2025, 6, 30)
DEFINITION = CohortDefinition(
    status=("active",),
    tenure_days_min=90,
    countries=("US", "DE", "GB"),
    engagement_score_min=0.5,
    tags_include=("vip",),
)

# Synthetic data: each customer gets one paying stretch; a third of them churned, a tenth
# paused afterwards. Values come from hash(i) so every run builds the same rows.
_GENERATE = """
INSERT INTO customers (org_id, livemode, id, country, currency, tags, engagement_score,
                       created_at, segment)
SELECT 'org_bench', false, printf('cus_%08d', i),
       ['US', 'DE', 'GB', 'FR', 'BR', 'JP'][1 + CAST(hash(i, 1) % 6 AS BIGINT)],
       ['USD', 'EUR', 'GBP'][1 + CAST(hash(i, 2) % 3 AS BIGINT)],
       CASE CAST(hash(i, 3) % 4 AS BIGINT)
            WHEN 0 THEN ['vip'] WHEN 1 THEN ['vip', 'beta'] WHEN 2 THEN [] END,
       CASE WHEN CAST(hash(i, 4) % 10 AS BIGINT) = 0 THEN NULL
            ELSE (CAST(hash(i, 5) % 1000 AS BIGINT)) / 1000.0 END,
       TIMESTAMP '2021-01-01' + to_days(CAST(hash(i, 6) % 1600 AS INTEGER)),
       ['SMB', 'Mid-Market', 'Enterprise'][1 + CAST(hash(i, 7) % 3 AS BIGINT)]
FROM range({n}) t(i);

INSERT INTO subscriptions (org_id, livemode, id, customer_id, plan_id, currency, mrr_minor,
                           start_date, end_date, status)
SELECT 'org_bench', false, printf('sub_%08d_a', i), printf('cus_%08d', i),
       ['basic', 'pro', 'annual_pro'][1 + CAST(hash(i, 8) % 3 AS BIGINT)], 'USD',
       1000 + CAST(hash(i, 9) % 90000 AS BIGINT),
       DATE '2021-01-01' + CAST(hash(i, 6) % 1600 AS INTEGER),
       CASE WHEN CAST(hash(i, 10) % 3 AS BIGINT) = 0
            THEN DATE '2021-01-01' + CAST(CAST(hash(i, 6) % 1600 AS BIGINT) + 30
                                          + CAST(hash(i, 11) % 400 AS BIGINT) AS INTEGER)
       END,
       'active'
FROM range({n}) t(i);

INSERT INTO subscriptions (org_id, livemode, id, customer_id, plan_id, currency, mrr_minor,
                           start_date, end_date, status)
SELECT org_id, livemode, replace(id, '_a', '_p'), customer_id, plan_id, currency, 0,
       end_date, NULL, 'paused'
FROM subscriptions WHERE end_date IS NOT NULL AND CAST(hash(id) % 10 AS BIGINT) = 0;
"""

# The same membership, by hand: paying on the day, paid ≥ 90 days before it, country in
# the list, score ≥ 0.5, tagged vip. (No customer has a given status, so derived = asked.)
_HAND_COUNT = """
WITH subs AS (SELECT * FROM subscriptions WHERE org_id = 'org_bench' AND NOT livemode),
paying AS (SELECT DISTINCT customer_id FROM subs
           WHERE start_date <= $day AND (end_date IS NULL OR end_date > $day) AND mrr_minor > 0),
first_paid AS (SELECT customer_id, min(start_date) AS first_paid FROM subs
               WHERE mrr_minor > 0 GROUP BY 1)
SELECT count(*) FROM customers c
JOIN paying p ON p.customer_id = c.id
JOIN first_paid f ON f.customer_id = c.id
WHERE c.org_id = 'org_bench' AND NOT c.livemode
  AND $day - f.first_paid >= 90
  AND lower(c.country) IN ('us', 'de', 'gb')
  AND c.engagement_score >= 0.5
  AND list_contains(list_transform(c.tags, t -> lower(t)), 'vip')
"""


def _median(repeat: int, action: Callable[[], Any]) -> tuple[float, Any]:
    timings: list[float] = []
    result: Any = None
    for _ in range(repeat):
        began = time.perf_counter()
        result = action()
        timings.append(time.perf_counter() - began)
    return statistics.median(timings), result


def _generate(warehouse: Warehouse, customers: int) -> float:
    began = time.perf_counter()
    raw = warehouse.con.con
    for statement in _GENERATE.format(n=customers).split(";\n"):
        if statement.strip():
            raw.execute(statement)
    return time.perf_counter() - began


def run(customers: int, repeat: int) -> str:
    with tempfile.TemporaryDirectory() as folder:
        warehouse = connect(f"duckdb:///{Path(folder) / 'bench.duckdb'}")
        generated = _generate(warehouse, customers)
        raw = warehouse.con.con
        subscriptions = raw.execute("SELECT count(*) FROM subscriptions").fetchone()[0]
        engine_s, engine_count = _median(
            repeat, lambda: member_count(warehouse, SCOPE, DEFINITION, AS_OF, today=AS_OF)
        )
        hand_s, hand_count = _median(
            repeat, lambda: raw.execute(_HAND_COUNT, {"day": AS_OF}).fetchone()[0]
        )
        universe = members(warehouse, SCOPE, DEFINITION, AS_OF, today=AS_OF)
        page_s, page = _median(
            repeat,
            lambda: page_of_members(warehouse, SCOPE, universe, PageParams(limit=50), today=AS_OF),
        )
        warehouse.close()
    if engine_count != hand_count:
        raise SystemExit(f"engine count {engine_count} != hand-written SQL {hand_count}")
    rows = [
        ("member_count, five criteria (engine)", engine_s, f"{engine_count:,} members"),
        ("same count, hand-written DuckDB SQL", hand_s, f"{hand_count:,} members"),
        ("first members page (50 subscribers)", page_s, f"{len(page.items)} rows"),
    ]
    lines = [
        f"{customers:,} customers, {subscriptions:,} subscription rows (generated in "
        f"{generated:.1f} s), DuckDB, as of {AS_OF}, median of {repeat}, "
        f"{platform.machine()} / {platform.python_version()}.",
        "",
        "| operation | median | result |",
        "|---|---:|---|",
        *[f"| {name} | {seconds * 1000:,.0f} ms | {result} |" for name, seconds, result in rows],
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(run(args.customers, args.repeat))


if __name__ == "__main__":
    main()
