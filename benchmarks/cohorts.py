"""Cohort membership on synthetic data: exact member_count and the first members page.

    uv run python benchmarks/cohorts.py [--customers 1000000] [--repeat 5]

Generates customers and subscriptions in a temporary DuckDB warehouse (DuckDB's own
``range()``, deterministic hashing, no files), then times, median of ``--repeat`` runs,
each next to the same answer hand-written in DuckDB SQL in the same run:

- ``member_count`` of a five-criteria definition (status, tenure, countries, score, tag),
- the first page (50) of ``GET /v1/cohorts/{id}/members`` (service call, no HTTP): the
  members' ids and every field a subscriber shows (state, billing currency, MRR).

The first engine call of each (it builds and compiles the Ibis expressions; later calls
reuse the compiled SQL) is shown on its own; engine and hand SQL calls alternate. Prints
a Markdown table (pasted into docs/benchmarks.md, "Cohorts"); stops if an engine answer
differs from the hand SQL's.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import date
from decimal import Decimal, localcontext
from pathlib import Path
from typing import Any

from cohortd.api.paging import PageParams
from cohortd.engine.membership import CohortDefinition, member_count
from cohortd.engine.money import exponent, round_half_away
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
PAGE = PageParams(limit=50)

# Synthetic data: each customer gets one paying stretch; a third of them churned, a tenth
# paused afterwards; one in twenty has a given status (it wins on the day asked, which is
# "today" here). Values come from hash(i) so every run builds the same rows.
_GENERATE = """
INSERT INTO customers (org_id, livemode, id, country, currency, tags, engagement_score,
                       created_at, segment, status)
SELECT 'org_bench', false, printf('cus_%08d', i),
       ['US', 'DE', 'GB', 'FR', 'BR', 'JP'][1 + CAST(hash(i, 1) % 6 AS BIGINT)],
       ['USD', 'EUR', 'GBP'][1 + CAST(hash(i, 2) % 3 AS BIGINT)],
       CASE CAST(hash(i, 3) % 4 AS BIGINT)
            WHEN 0 THEN ['vip'] WHEN 1 THEN ['VIP', 'beta'] WHEN 2 THEN [] END,
       CASE WHEN CAST(hash(i, 4) % 10 AS BIGINT) = 0 THEN NULL
            ELSE (CAST(hash(i, 5) % 1000 AS BIGINT)) / 1000.0 END,
       TIMESTAMP '2021-01-01' + to_days(CAST(hash(i, 6) % 1600 AS INTEGER)),
       ['SMB', 'Mid-Market', 'Enterprise'][1 + CAST(hash(i, 7) % 3 AS BIGINT)],
       CASE WHEN CAST(hash(i, 12) % 20 AS BIGINT) = 0
            THEN ['active', 'paused', 'cancelled'][1 + CAST(hash(i, 13) % 3 AS BIGINT)] END
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

# The customer-field criteria, as written by hand: countries are upper-cased on import
# (SPEC §1); tags match case-insensitively.
_HAND_CANDIDATES = """
c.org_id = $org AND c.livemode = $live
AND c.country IN ('US', 'DE', 'GB')
AND c.engagement_score >= 0.5
AND list_contains(list_transform(c.tags, t -> lower(t)), 'vip')
"""

# Status as of the day (the given one when the day is today, else derived: active means
# a paying row covers the day) and tenure >= 90 (a paying row started 90+ days before).
# One correlated aggregate per candidate: DuckDB decorrelates it into a single hash join
# built on the candidates' ids, probing only their subscription rows.
_HAND_MEMBERS = f"""
SELECT c.* FROM customers c,
LATERAL (SELECT min(s.start_date) FILTER (WHERE s.mrr_minor > 0) AS paid_started_at,
                bool_or(s.mrr_minor > 0 AND (s.end_date IS NULL OR s.end_date > $day))
                  AS paying
         FROM subscriptions s
         WHERE s.org_id = c.org_id AND s.livemode = c.livemode AND s.customer_id = c.id
           AND s.start_date <= $day) f
WHERE {_HAND_CANDIDATES}
  AND f.paid_started_at <= $day - 90
  AND CASE WHEN $day = $today AND c.status IS NOT NULL THEN lower(c.status) = 'active'
           ELSE coalesce(f.paying, false) END
"""

_HAND_COUNT = f"SELECT count(*) FROM ({_HAND_MEMBERS})"

# The first page: the first 51 members by id, then what each shows as of today (SPEC §1:
# given status/plan, else derived; paid start and tenure; billing currency = given, else
# the earliest row's; MRR per currency of the rows covering today). Every row of this
# data is in USD, so rows rank by mrr_minor as is for the plan.
_HAND_PAGE = f"""
WITH page AS (SELECT * FROM ({_HAND_MEMBERS}) ORDER BY id LIMIT 51),
rows AS (SELECT s.*, (s.end_date IS NULL OR s.end_date > $today) AS covering
         FROM subscriptions s
         WHERE s.org_id = $org AND s.livemode = $live
           AND s.customer_id IN (SELECT id FROM page)),
amounts AS (SELECT customer_id, list({{'currency': currency, 'mrr_minor': total}}) AS mrr
            FROM (SELECT customer_id, currency, sum(mrr_minor) AS total FROM rows
                  WHERE covering AND start_date <= $today GROUP BY 1, 2)
            GROUP BY 1),
state AS (
  SELECT customer_id,
    CASE WHEN bool_or(covering AND start_date <= $today AND mrr_minor > 0) THEN 'active'
         WHEN bool_or(covering AND start_date <= $today AND lower(status) = 'paused')
           THEN 'paused'
         WHEN bool_or(covering AND start_date <= $today) THEN 'trialing'
         WHEN max(end_date) FILTER (WHERE end_date <= $today) IS NULL THEN NULL
         WHEN max(end_date) FILTER (WHERE end_date <= $today AND lower(status) = 'lapsed')
              = max(end_date) FILTER (WHERE end_date <= $today) THEN 'lapsed'
         ELSE 'cancelled' END AS derived_status,
    first(plan_id ORDER BY mrr_minor DESC, plan_id ASC NULLS LAST)
      FILTER (WHERE covering AND start_date <= $today) AS derived_plan,
    min(start_date) FILTER (WHERE mrr_minor > 0 AND start_date <= $today) AS paid_started_at,
    first(currency ORDER BY start_date, id) AS first_currency
  FROM rows GROUP BY 1)
SELECT p.id, coalesce(p.status, st.derived_status) AS status,
       coalesce(p.plan_id, st.derived_plan) AS plan_id, st.paid_started_at,
       $today - st.paid_started_at AS tenure_days,
       coalesce(p.currency, st.first_currency) AS currency, a.mrr
FROM page p LEFT JOIN state st ON st.customer_id = p.id
LEFT JOIN amounts a ON a.customer_id = p.id
ORDER BY p.id
"""

# The latest rate on or before today of each currency (the organization's own on a day
# both sources have one).
_HAND_RATES = """
SELECT currency, arg_max(rate, (date, own)) AS rate FROM (
  SELECT date, currency, rate, 1 AS own FROM fx_rates WHERE org_id = $org AND livemode = $live
  UNION ALL SELECT date, currency, rate, 0 FROM fx_ecb)
WHERE date <= $today AND currency IN ('USD', 'GBP', 'EUR') GROUP BY 1
"""


def _timed_pair(
    repeat: int, engine: Callable[[], Any], hand: Callable[[], Any]
) -> tuple[tuple[float, float, Any], tuple[float, float, Any]]:
    """For the engine and the hand SQL: (first call, median of the ``repeat`` calls after
    it, last result), seconds. The two alternate, so that other work on the machine
    weighs on both alike."""
    timings: dict[str, list[float]] = {"engine": [], "hand": []}
    results: dict[str, Any] = {}
    for _ in range(repeat + 1):
        for name, action in (("engine", engine), ("hand", hand)):
            began = time.perf_counter()
            results[name] = action()
            timings[name].append(time.perf_counter() - began)
    engine_t, hand_t = timings["engine"], timings["hand"]
    return (
        (engine_t[0], statistics.median(engine_t[1:]), results["engine"]),
        (hand_t[0], statistics.median(hand_t[1:]), results["hand"]),
    )


def _generate(warehouse: Warehouse, customers: int) -> float:
    began = time.perf_counter()
    raw = warehouse.con.con
    for statement in _GENERATE.format(n=customers).split(";\n"):
        if statement.strip():
            raw.execute(statement)
    return time.perf_counter() - began


def _params(*names: str) -> dict[str, Any]:
    """The hand SQL's parameters (all, or the ``names`` given)."""
    every = {"org": SCOPE.org_id, "live": SCOPE.livemode, "day": AS_OF, "today": AS_OF}
    return {name: every[name] for name in names} if names else every


def _hand_page(raw: Any) -> dict[str, Any]:
    """The first page by hand: one query for the members and their state, one for the
    rates; MRR converted exactly (Decimal) and rounded half away from zero."""
    rows = raw.execute(_HAND_PAGE, _params()).fetchall()
    found = raw.execute(_HAND_RATES, _params("org", "live", "today")).fetchall()
    rates = {"EUR": Decimal(1)} | {code: Decimal(rate) for code, rate in found}
    shown = []
    for customer_id, status, plan_id, paid, tenure, currency, amounts in rows[: PAGE.limit]:
        total = Decimal(0)
        with localcontext() as ctx:
            ctx.prec = 50
            for amount in amounts or []:
                source = amount["currency"]
                factor = rates[currency] / rates[source] if source != currency else Decimal(1)
                total += Decimal(amount["mrr_minor"]) * factor.scaleb(-exponent(source))
        mrr = str(round_half_away(total, Decimal(1).scaleb(-exponent(currency))))
        shown.append((customer_id, status, plan_id, paid, tenure, currency, mrr))
    return {"rows": shown, "has_more": len(rows) > PAGE.limit}


def _engine_page(warehouse: Warehouse) -> dict[str, Any]:
    page = page_of_members(warehouse, SCOPE, DEFINITION, PAGE, as_of=AS_OF, today=AS_OF)
    rows = [
        (s.id, s.status, s.plan_id, s.paid_started_at, s.tenure_days, s.currency, s.mrr)
        for s in page.items
    ]
    return {"rows": rows, "has_more": page.has_more}


def run(customers: int, repeat: int) -> str:
    with tempfile.TemporaryDirectory() as folder:
        warehouse = connect(f"duckdb:///{Path(folder) / 'bench.duckdb'}")
        generated = _generate(warehouse, customers)
        raw = warehouse.con.con
        subscriptions = raw.execute("SELECT count(*) FROM subscriptions").fetchone()[0]
        given = raw.execute("SELECT count(status) FROM customers").fetchone()[0]
        timed: dict[str, tuple[float, float, Any]] = {}
        timed["engine count"], timed["hand count"] = _timed_pair(
            repeat,
            lambda: member_count(warehouse, SCOPE, DEFINITION, AS_OF, today=AS_OF),
            lambda: raw.execute(_HAND_COUNT, _params()).fetchone()[0],
        )
        timed["engine page"], timed["hand page"] = _timed_pair(
            repeat, lambda: _engine_page(warehouse), lambda: _hand_page(raw)
        )
        warehouse.close()
    for what in ("count", "page"):
        if timed[f"engine {what}"][2] != timed[f"hand {what}"][2]:
            raise SystemExit(f"the engine's {what} differs from the hand-written SQL's")
    count = timed["engine count"][2]
    page_rows = len(timed["engine page"][2]["rows"])
    results = {"count": f"{count:,} members", "page": f"{page_rows} subscribers"}
    lines = [
        f"{customers:,} customers ({given:,} with a given status), {subscriptions:,} "
        f"subscription rows (generated in {generated:.1f} s), DuckDB, as of {AS_OF}, "
        f"median of {repeat} after a first call, {platform.machine()} / "
        f"Python {platform.python_version()}.",
        "",
        "| operation | engine, first call | engine, median | hand SQL, median | ratio | result |",
        "|---|---:|---:|---:|---:|---|",
    ]
    names = {"count": "member_count, five criteria", "page": "first members page (50)"}
    for what, name in names.items():
        first, median, _ = timed[f"engine {what}"]
        hand = timed[f"hand {what}"][1]
        lines.append(
            f"| {name} | {first * 1000:,.0f} ms | {median * 1000:,.0f} ms "
            f"| {hand * 1000:,.0f} ms | {median / hand:.2f}x | {results[what]} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(run(args.customers, args.repeat))


if __name__ == "__main__":
    main()
