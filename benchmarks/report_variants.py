"""Every variant of the cohort report on data shaped like a global SaaS, each against
hand-written DuckDB SQL for the same variant, in the same run.

    uv run python benchmarks/report_variants.py [--customers 100000] [--runs 5] [--http]

Data: the demo generator's global-SaaS population (``demo-data --shape global-saas``,
seed 19: five years up to 2026-11-30, 20 currencies, about 60 % of customers billed
outside USD, several stretches per customer), loaded into a temporary DuckDB warehouse
and refreshed as an import does (``benchmarks/metrics.py``'s loader). Base currency USD,
the shipped ECB history.

Variants: monthly, weekly, quarterly with ``fix_fx``, ``breakdown=country``,
``breakdown=currency`` and a region filter (``region=europe``), each as of today (no
``date``: the current period cut at today) and as of a day in the past (2025-06-15).
Each is timed through the engine (``engine.report.run_report`` and its JSON envelope:
what the API computes) and, with ``--http``, as ``GET /v1/reports/cohort`` against the
real app under uvicorn (``Cache-Control: no-cache``). Median of ``--runs`` after one
warm-up.

Two hand-written baselines per variant, over the same derived tables the engine reads
(``mrr_segments``, ``paid_spells``: the constant-MRR ranges and paid spells with their
paid start, country and billing currency) and the same exact factor tables (built once
beforehand; the engine builds its own inside its timing):

- **full**: every field the engine answers (customers, MRR, gross MRR, initial values),
  every (member, period) cell expanded and summed;
- **tuned**: customers, MRR and initial values only (no gross: it needs each member's
  own cap), difference arrays per (group, cohort, currency) and a running sum.

Before anything is timed the script stops unless both baselines equal the engine's
answer on every cell, in both directions (every non-zero engine cell is in the
baseline). Prints a Markdown table (docs/benchmarks.md, "Report variants").
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from report import bench_org, median_seconds, round_money, served

from cohortd.engine import regions
from cohortd.engine.periods import Interval, last_day
from cohortd.engine.report import factor_tables, run_report
from cohortd.engine.triangle_blocks import cohort_sizes
from cohortd.reports.service import ReportParams, parse_query
from cohortd.warehouse import Scope, Warehouse, connect
from metrics import load_global_saas

PAST = date(2025, 6, 15)
VARIANTS: dict[str, dict[str, str]] = {
    "monthly": {"interval": "month"},
    "weekly": {"interval": "week"},
    "quarterly fix_fx": {"interval": "quarter", "fix_fx": "true"},
    "breakdown=country": {"interval": "month", "breakdown": "country"},
    "breakdown=currency": {"interval": "month", "breakdown": "currency"},
    "region=europe": {"interval": "month", "region": "europe"},
}
PERIOD_SQL = {  # engine.periods' numbering, in DuckDB SQL
    Interval.week: "(datediff('day', DATE '1970-01-05', {d}) // 7)",
    Interval.month: "(year({d}) * 12 + month({d}) - 1)",
    Interval.quarter: "(year({d}) * 4 + (month({d}) - 1) // 3)",
}


def _ranges(table: str, interval: Interval, group: str | None, countries: str | None) -> str:
    """The rows of ``table`` in the universe with their cohort (p0) and the periods
    they cover: lo .. hi (a range covers the evaluation day of period p iff p is in it;
    the one covering ``date`` reaches the current period)."""
    period = PERIOD_SQL[interval].format
    where = f" AND country IN ({countries})" if countries else ""
    # the billing currency is ``billing_currency`` in mrr_segments, ``currency`` in
    # paid_spells (whose rows have no currency of their own)
    column = {("currency", "mrr_segments"): "billing_currency"}.get((group, table), group)
    g = f"coalesce({column}, 'unknown')" if group else "''"
    extra = ", currency, level_minor AS v" if table == "mrr_segments" else ""
    return f"""
  SELECT customer_id, {g} AS g, {period(d="paid_started_at")} AS p0,
         {period(d="start_date")} AS lo, paid_started_at AS ps,
         start_date = paid_started_at AS at_start,
         CASE WHEN start_date <= $as_of AND (end_date IS NULL OR end_date > $as_of)
              THEN $current
              ELSE least(coalesce({period(d="end_date")}, $current), $current) - 1
         END AS hi{extra}
  FROM {table}
  WHERE org_id = $org AND NOT livemode AND paid_started_at <= $as_of{where}"""


def _factors(fix_fx: bool, at: str) -> tuple[str, str]:
    """The join and factor of a cell (period ``at``) and of an initial MRR."""
    if fix_fx:  # every amount of a cohort at the first day of its period
        return (
            "JOIN by_period f ON f.currency = s.currency AND f.p = s.p0",
            "f.f_first",
        )
    return (f"JOIN by_period f ON f.currency = s.currency AND f.p = {at}", "f.f")


def _initial(fix_fx: bool) -> tuple[str, str]:
    join = (
        "JOIN by_period d ON d.currency = s.currency AND d.p = s.p0"
        if fix_fx
        else "JOIN by_day d ON d.currency = s.currency AND d.day = s.ps"
    )
    factor = "d.f_first" if fix_fx else "d.f"
    return join, factor


def _keys(group: str | None) -> tuple[str, str]:
    """The key columns (g, p0, k) of a cell row and the p0 of an initial row: a
    breakdown pools its time-based sub-cohorts by period index."""
    if group is None:
        return "g, p0, p AS k", "p0"
    return "g, -1 AS p0, p - p0 AS k", "-1"


def full_sql(interval: Interval, fix_fx: bool, group: str | None, countries: str | None) -> str:
    """Every field: each (member, period) cell expanded."""
    join, factor = _factors(fix_fx, "s.p")
    init_join, init_factor = _initial(fix_fx)
    key, initial_p0 = _keys(group)
    return f"""
WITH seg AS ({_ranges("mrr_segments", interval, group, countries)}
), initial AS (
  SELECT s.customer_id, any_value(s.g) AS g, any_value(s.p0) AS p0,
         sum(s.v * {init_factor}) AS b
  FROM seg s {init_join}
  WHERE s.at_start GROUP BY s.customer_id
), cells AS (
  SELECT s.customer_id, s.p, s.v * {factor} AS a
  FROM (SELECT seg.*, seg.lo + k AS p FROM seg, unnest(range(seg.hi - seg.lo + 1)) t(k)
        WHERE seg.hi >= seg.lo) s
  {join}
), member AS (
  SELECT customer_id, p, sum(a) AS a FROM cells GROUP BY ALL
)
SELECT {key}, count(*) FILTER (WHERE m.a > 0) AS customers, sum(m.a) AS mrr,
       sum(least(m.a, i.b)) AS gross
FROM member m JOIN initial i USING (customer_id)
GROUP BY ALL
UNION ALL
SELECT g, {initial_p0}, NULL, count(*), sum(b), NULL FROM initial GROUP BY ALL
"""


def tuned_sql(interval: Interval, fix_fx: bool, group: str | None, countries: str | None) -> str:
    """Customers, MRR and initial values (no gross): difference arrays."""
    join, factor = _factors(fix_fx, "s.p")
    init_join, init_factor = _initial(fix_fx)
    key, initial_p0 = _keys(group)
    spells = _ranges("paid_spells", interval, group, countries)
    return f"""
WITH seg AS ({_ranges("mrr_segments", interval, group, countries)}
), seg_d AS (
  SELECT g, p0, currency, p, sum(x) AS x FROM (
    SELECT g, p0, currency, lo AS p, v AS x FROM seg WHERE hi >= lo
    UNION ALL
    SELECT g, p0, currency, hi + 1, -v FROM seg WHERE hi >= lo AND hi < $current
  ) GROUP BY ALL
), seg_l AS (
  SELECT g, p0, currency, p, sum(x) OVER w AS level,
         coalesce(lead(p) OVER w, $current + 1) AS upto
  FROM seg_d WINDOW w AS (PARTITION BY g, p0, currency ORDER BY p)
), mrr AS (
  SELECT {key}, sum(a) AS mrr FROM (
    SELECT s.g, s.p0, s.p, s.level * {factor} AS a
    FROM (SELECT g, p0, currency, unnest(range(p, upto)) AS p, level
          FROM seg_l WHERE level <> 0) s
    {join}
  ) GROUP BY ALL
), spell AS ({spells}
), spell_d AS (
  SELECT g, p0, p, sum(x) AS x FROM (
    SELECT g, p0, lo AS p, 1 AS x FROM spell WHERE hi >= lo
    UNION ALL
    SELECT g, p0, hi + 1, -1 FROM spell WHERE hi >= lo AND hi < $current
  ) GROUP BY ALL
), spell_l AS (
  SELECT g, p0, p, sum(x) OVER w AS level, coalesce(lead(p) OVER w, $current + 1) AS upto
  FROM spell_d WINDOW w AS (PARTITION BY g, p0 ORDER BY p)
), customers AS (
  SELECT {key}, sum(level) AS customers
  FROM (SELECT g, p0, unnest(range(p, upto)) AS p, level FROM spell_l WHERE level <> 0)
  GROUP BY ALL
), initial AS (
  SELECT g, {initial_p0}, NULL, count(DISTINCT s.customer_id),
         sum(s.v * {init_factor}), NULL
  FROM (SELECT * FROM seg WHERE at_start) s {init_join}
  GROUP BY ALL
)
SELECT coalesce(c.g, m.g), coalesce(c.p0, m.p0), coalesce(c.k, m.k), coalesce(c.customers, 0),
       m.mrr, NULL
FROM customers c FULL JOIN mrr m ON m.g = c.g AND m.p0 = c.p0 AND m.k = c.k
UNION ALL
SELECT * FROM initial
"""


def _query(params: dict[str, str], as_of: date | None) -> Any:
    values = dict(params)
    if as_of is not None:
        values["date"] = as_of.isoformat()
    query, _ = parse_query(ReportParams(**values), default_currency="USD")
    return query


def baseline(
    warehouse: Warehouse, scope: Scope, params: dict[str, str], as_of: date | None, sql: Callable
) -> Callable[[], list[tuple]]:
    """The variant's hand-written SQL, its factor tables built beforehand."""
    query = _query(params, as_of)
    sizes = warehouse.to_pyarrow(cohort_sizes(warehouse, scope, query))
    found = factor_tables(warehouse, scope, query, min(sizes.column("p0").to_pylist()))
    raw = warehouse.con.con
    raw.register("_by_period", found.by_period)
    raw.register("_by_day", found.by_day)
    raw.execute("CREATE OR REPLACE TEMP TABLE by_period AS SELECT * FROM _by_period")
    raw.execute("CREATE OR REPLACE TEMP TABLE by_day AS SELECT * FROM _by_day")
    raw.unregister("_by_period")
    raw.unregister("_by_day")
    group = params.get("breakdown")
    region = params.get("region")
    countries = ", ".join(f"'{c}'" for c in sorted(regions.expand([region]))) if region else None
    text = sql(query.interval, query.fix_fx, group, countries)
    values = {"org": scope.org_id, "as_of": query.as_of, "current": query.current}
    return lambda: raw.execute(text, values).fetchall()


def check(rows: list[tuple], answer: dict[str, Any], interval: Interval, pooled: bool) -> int:
    """Stop unless the baseline's rows equal the engine's answer, both ways; the number
    of cells compared."""
    listed = {row["cohort_group"]: row for row in answer["result"]["list"]}
    seen: set[tuple[str, int]] = set()
    for g, p0, k, customers, mrr, gross in rows:
        name = g if pooled else last_day(p0, interval).isoformat()
        if name not in listed:
            raise AssertionError(("a cohort the engine does not list", name, k, customers))
        row = listed[name]
        mrr = Decimal(0) if mrr is None else mrr
        if k is None:
            assert row["initial_customers"] == customers, (name, row, customers)
            assert Decimal(str(row["initial_mrr"])) == round_money(mrr), (name, row, mrr)
            continue
        index = k if pooled else k - p0
        cell = row["periods"][index]
        seen.add((name, index))
        assert cell["customers_retained"] == customers, (name, index, cell, customers)
        assert Decimal(str(cell["mrr_retained"])) == round_money(mrr), (name, index, cell, mrr)
        if gross is not None:
            got = Decimal(str(cell["mrr_retained_gross"]))
            assert got == round_money(gross), (name, index, cell, gross)
    for name, row in listed.items():
        if name == "average":
            continue
        for index, cell in enumerate(row["periods"]):
            if cell["customers_retained"] or cell["mrr_retained"]:
                assert (name, index) in seen, ("missing from the baseline", name, index, cell)
    assert seen, "the baseline returned no cell"
    return len(seen)


def bench(
    warehouse: Warehouse, scope: Scope, runs: int, get: Callable[[str], None] | None
) -> list[dict[str, Any]]:
    results = []
    for name, params in VARIANTS.items():
        for as_of in (None, PAST):
            query = _query(params, as_of)
            answer = run_report(warehouse, scope, query).envelope()
            full = baseline(warehouse, scope, params, as_of, full_sql)
            tuned = baseline(warehouse, scope, params, as_of, tuned_sql)
            cells = check(full(), answer, query.interval, query.grouped)
            check(tuned(), answer, query.interval, query.grouped)
            row = {
                "variant": name,
                "date": "today" if as_of is None else as_of.isoformat(),
                "cells": cells,
                "engine": median_seconds(
                    lambda q=query: run_report(warehouse, scope, q).envelope(), runs
                ),
                "full": median_seconds(full, runs),
                "tuned": median_seconds(tuned, runs),
            }
            if get is not None:
                target = "/v1/reports/cohort?" + "&".join(f"{k}={v}" for k, v in params.items())
                if as_of is not None:
                    target += f"&date={as_of}"
                row["http"] = median_seconds(lambda t=target: get(t), runs)
            print(row, file=sys.stderr, flush=True)
            results.append(row)
    return results


def table(results: list[dict[str, Any]], http: bool) -> str:
    head = "| variant | date | engine | full baseline | tuned (no gross) | engine / full |"
    head += " engine / tuned |" + (" HTTP | HTTP / full |" if http else "")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in results:
        line = (
            f"| {r['variant']} | {r['date']} | {r['engine']:.3f} s | {r['full']:.3f} s |"
            f" {r['tuned']:.3f} s | {r['engine'] / r['full']:.2f}x |"
            f" {r['engine'] / r['tuned']:.2f}x |"
        )
        if http:
            line += f" {r['http']:.3f} s | {r['http'] / r['full']:.2f}x |"
        lines.append(line)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--http", action="store_true")
    args = parser.parse_args()
    started = datetime.now(UTC)
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as tmp:
        folder = Path(tmp)
        if not args.http:
            warehouse = connect(f"duckdb:///{folder / 'bench.duckdb'}")
            scope = Scope(f"org_bench_{uuid.uuid4().hex[:8]}", livemode=False)
            _, subscriptions = load_global_saas(warehouse, scope, args.customers)
            results = bench(warehouse, scope, args.runs, None)
            warehouse.close()
        else:
            with served(folder) as (url, app):
                state = app.state  # type: ignore[attr-defined]
                scope, secret = bench_org(app)
                _, subscriptions = load_global_saas(state.warehouse, scope, args.customers)
                headers = {"Authorization": f"Bearer {secret}", "Cache-Control": "no-cache"}
                with httpx.Client(base_url=url, headers=headers, timeout=600) as client:

                    def get(target: str) -> None:
                        client.get(target).raise_for_status()

                    results = bench(state.warehouse, scope, args.runs, get)
    print(
        f"{started:%Y-%m-%d %H:%M} UTC, {platform.machine()} / Python"
        f" {platform.python_version()}, load average {os.getloadavg()[0]:.1f} at the end;"
        f" {args.customers:,} global-SaaS customers, {subscriptions:,} subscription rows;"
        f" median of {args.runs}\n"
    )
    print(table(results, args.http))


if __name__ == "__main__":
    main()
