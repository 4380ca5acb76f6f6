"""SPEC §8 metrics on data shaped like a global SaaS (``demo-data --shape global-saas``).

    uv run python benchmarks/metrics.py [--sizes 100000 1000000] [--runs 3]

For each size: generates the global-saas demo population (five years up to END, 20
currencies, ~60 % billed outside USD), loads it into the DuckDB warehouse of a real
server (uvicorn on a free loopback port, SQLite control plane, temporary folder) and
refreshes the derived tables as an import does. Then times, median of ``--runs`` after
a warm-up:

- ``GET /v1/metrics?interval=month`` over five years (60 entries), over HTTP (computed
  each time: ``Cache-Control: no-cache``);
- the same series in-process (``engine.metrics.metrics_series``: the whole scope by
  month reads the monthly sums kept at every write, ``engine.monthly``);
- the same movements computed from the segments, as for a filtered series or a cohort
  (``engine.movements.cohort_movements``), checked equal to the kept ones;
- ``GET /v1/metrics?interval=day`` over one year (365 entries), HTTP and in-process;
- the baseline, in the same process: the same monthly series hand-written in DuckDB SQL
  over the same tables (``mrr_segments``: each range expanded to the months whose last
  day it covers, s and e per customer, currency and month, classified per customer with
  the same float factors; the integer sums per month, movement and currency converted
  with the same exact factors). Its MRR, starting MRR and five movements are checked
  equal to the engine's to the cent before anything is timed.

Prints a Markdown table (pasted into docs/benchmarks.md, "Metrics").
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.compute as pc
from report import bench_org, served  # benchmarks/report.py: the real app under uvicorn

from cohortd.demo import DemoConfig, Shape, iter_chunks
from cohortd.engine import derived
from cohortd.engine.fx import RateBook
from cohortd.engine.metrics import Granularity, earlier, metrics_series, windows
from cohortd.engine.money import round_half_away
from cohortd.engine.movement_model import Movement
from cohortd.engine.movements import cohort_movements
from cohortd.engine.periods import Interval, first_day, last_day, period_of
from cohortd.keys.models import Role
from cohortd.warehouse import Scope, Warehouse
from cohortd.warehouse.tables import CUSTOMERS, SCHEMAS, SUBSCRIPTIONS

END = date(2026, 11, 30)  # a month end: every monthly entry is complete
MONTHLY = (first_day(period_of(END, Interval.month) - 59, Interval.month), END)
DAILY = (END - timedelta(days=364), END)


def _canonical(name: str, columns: dict[str, pa.Array], rows: int, scope: Scope) -> pa.Table:
    schema = SCHEMAS[name].to_pyarrow()
    given = {"org_id": pa.array([scope.org_id] * rows), "livemode": pa.array([False] * rows)}
    given.update(columns)
    arrays = [
        given[f.name].cast(f.type) if f.name in given else pa.nulls(rows, f.type) for f in schema
    ]
    return pa.table(arrays, schema=schema)


def _empty_null(column: pa.ChunkedArray) -> pa.Array:
    text = column.combine_chunks()
    return pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)


def load_global_saas(warehouse: Warehouse, scope: Scope, customers: int) -> tuple[int, int]:
    """Generate and insert the population chunk by chunk; refresh the derived tables."""
    config = DemoConfig(customers, 19, date(END.year - 5, END.month, 1), END, Shape.global_saas)
    rows = 0
    for chunk in iter_chunks(config):
        c, s = chunk.customers, chunk.subscriptions
        created = pc.strptime(c.column("created_at"), format="%Y-%m-%dT%H:%M:%SZ", unit="s")
        customer_rows = {
            "id": c.column("id").combine_chunks(),
            "country": _empty_null(c.column("country")),
            "currency": _empty_null(c.column("currency")),
            "industry": _empty_null(c.column("industry")),
            "created_at": created.combine_chunks(),
        }
        # the mrr strings carry exactly the currency's decimals: the digits are minor units
        minor = pc.cast(pc.replace_substring(s.column("mrr"), ".", ""), pa.int64())
        end = _empty_null(s.column("end_date"))
        sub_rows = {
            "id": s.column("id").combine_chunks(),
            "customer_id": s.column("customer_id").combine_chunks(),
            "plan_id": s.column("plan_id").combine_chunks(),
            "currency": s.column("currency").combine_chunks(),
            "mrr_minor": minor.combine_chunks(),
            "start_date": pc.cast(s.column("start_date"), pa.date32()).combine_chunks(),
            "end_date": pc.cast(end, pa.date32()),
            "status": s.column("status").combine_chunks(),
        }
        warehouse.insert_arrow(CUSTOMERS, _canonical(CUSTOMERS, customer_rows, c.num_rows, scope))
        warehouse.insert_arrow(
            SUBSCRIPTIONS, _canonical(SUBSCRIPTIONS, sub_rows, s.num_rows, scope)
        )
        rows += s.num_rows
    with warehouse.transaction():
        derived.refresh(warehouse, scope)
    return customers, rows


BASELINE_SQL = """
WITH seg AS (
  SELECT customer_id, currency, level_minor AS v, paid_started_at AS ps,
         year(start_date) * 12 + month(start_date) - 1 AS lo,
         coalesce(year(end_date) * 12 + month(end_date) - 1, 1000000) AS hi
  FROM mrr_segments WHERE org_id = $org AND NOT livemode
),
cells AS (  -- a range covers the last day of month p iff lo <= p < hi
  SELECT customer_id, currency, ps, v,
         unnest(range(greatest(lo, $first - 1), least(hi, $last + 1))) AS p
  FROM seg WHERE hi > $first - 1 AND lo <= $last
),
levels AS (
  SELECT customer_id, currency, p, sum(v) AS m, min(ps) AS ps FROM cells GROUP BY ALL
),
pairs AS (
  SELECT coalesce(b.customer_id, a.customer_id) AS customer_id,
         coalesce(b.currency, a.currency) AS currency,
         coalesce(b.p, a.p + 1) AS p, coalesce(a.m, 0) AS s, coalesce(b.m, 0) AS e,
         coalesce(b.ps, a.ps) AS ps
  FROM (SELECT * FROM levels WHERE p < $last) a
  FULL JOIN (SELECT * FROM levels WHERE p >= $first) b
    ON a.customer_id = b.customer_id AND a.currency = b.currency AND a.p + 1 = b.p
),
members AS (
  SELECT x.customer_id, x.p, bool_or(x.s > 0) AS s_pos, bool_or(x.e > 0) AS e_pos,
         sum((x.e - x.s) * f.f) AS diff, min(x.ps) AS ps
  FROM pairs x JOIN factors f ON f.currency = x.currency AND f.p = x.p
  GROUP BY ALL
),
moves AS (
  SELECT customer_id, p,
         CASE WHEN s_pos AND NOT e_pos THEN 'churn'
              WHEN NOT s_pos AND ps >= make_date(p // 12, p % 12 + 1, 1)
                   AND ps < make_date((p + 1) // 12, (p + 1) % 12 + 1, 1) THEN 'new'
              WHEN NOT s_pos THEN 'reactivation'
              WHEN diff > 0 THEN 'expansion'
              WHEN diff < 0 THEN 'contraction'
              ELSE 'flat' END AS movement
  FROM members
)
SELECT x.p, m.movement, x.currency, sum(x.s) AS s, sum(x.e) AS e, count(*) AS n
FROM pairs x JOIN moves m USING (customer_id, p)
GROUP BY ALL
"""


def baseline(warehouse: Warehouse, scope: Scope) -> dict[int, dict[str, Decimal]]:
    """The hand-written monthly series: per month number, exact totals in USD."""
    # the raw main connection, under the warehouse's lock: the server's threads use it too
    with warehouse.holding():
        return _baseline(warehouse, scope)


def _baseline(warehouse: Warehouse, scope: Scope) -> dict[int, dict[str, Decimal]]:
    first, last = (period_of(d, Interval.month) for d in MONTHLY)
    con: Any = warehouse.con.con  # the raw DuckDB connection
    codes = [r[0] for r in con.execute(
        "SELECT DISTINCT currency FROM mrr_segments WHERE org_id = ?", [scope.org_id]
    ).fetchall()]  # fmt: skip
    days = {p: last_day(p, Interval.month) for p in range(first, last + 1)}
    book = RateBook.load(warehouse, scope, {(c, d) for c in [*codes, "USD"] for d in days.values()})
    factor = {(c, p): book.minor_factor(c, "USD", d) for c in codes for p, d in days.items()}
    con.execute("CREATE OR REPLACE TEMP TABLE factors (currency VARCHAR, p BIGINT, f DOUBLE)")
    con.executemany(
        "INSERT INTO factors VALUES (?, ?, ?)", [(c, p, float(f)) for (c, p), f in factor.items()]
    )
    rows = con.execute(BASELINE_SQL, {"org": scope.org_id, "first": first, "last": last}).fetchall()
    totals: dict[int, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for p, movement, currency, s, e, _ in rows:
        f = factor[(currency, p)]
        s, e = Decimal(int(s)) * f, Decimal(int(e)) * f
        totals[p]["starting"] += s
        totals[p]["mrr"] += e
        match movement:
            case "churn":
                totals[p]["churn"] += s
            case "new" | "reactivation":
                totals[p][movement] += e
            case "expansion":
                totals[p]["expansion"] += e - s
            case "contraction":
                totals[p]["contraction"] += s - e
    return totals


def engine_series(warehouse: Warehouse, scope: Scope, granularity: Granularity) -> list[Any]:
    start, end = MONTHLY if granularity is Granularity.month else DAILY
    return metrics_series(
        warehouse,
        scope,
        members=None,
        granularity=granularity,
        start=start,
        end=end,
        today=END + timedelta(days=1),
        currency="USD",
        fix_fx=False,
    ).entries


def segments_series(warehouse: Warehouse, scope: Scope) -> list[Any]:
    """The monthly movements (with the five periods before, as ``metrics_series`` asks)
    from the segments, not the kept sums."""
    start, end = MONTHLY
    periods = windows(Granularity.month, earlier(Granularity.month, start, 5), end, cut=end)
    return cohort_movements(
        warehouse, scope, members=None, periods=periods, currency="USD"
    ).series()


def check_baseline(entries: list[Any], totals: dict[int, dict[str, Decimal]]) -> None:
    for entry in entries:
        p = period_of(entry.moved.window.start, Interval.month)
        mine = totals[p]
        got = entry.moved
        pairs = {
            "mrr": got.ending_mrr,
            "starting": got.starting_mrr,
            **{m.value: got.moved(m) for m in Movement if m is not Movement.flat},
        }
        for name, value in pairs.items():
            assert round_half_away(value) == round_half_away(mine[name]), (
                p,
                name,
                value,
                mine[name],
            )


def median(action: Callable[[], object], runs: int) -> tuple[float, float]:
    """Median wall and CPU seconds (the CPU of the whole process: DuckDB's threads and
    the server's included) over ``runs`` after a warm-up."""
    action()
    walls, cpus = [], []
    for _ in range(runs):
        wall, cpu = time.perf_counter(), time.process_time()
        action()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


Result = tuple[str, str, tuple[float, float]]


def bench(size: int, folder: Path, runs: int) -> list[Result]:
    folder = folder / f"size_{size}"
    folder.mkdir()
    with served(folder) as (url, app):
        state = app.state  # type: ignore[attr-defined]
        scope, secret = bench_org(app, Role.viewer)
        warehouse: Warehouse = state.warehouse
        began = time.perf_counter()
        _, subscription_rows = load_global_saas(warehouse, scope, size)
        print(f"{size:,} customers, {subscription_rows:,} rows loaded in "
              f"{time.perf_counter() - began:.0f} s", flush=True)  # fmt: skip
        entries = engine_series(warehouse, scope, Granularity.month)
        check_baseline(entries, baseline(warehouse, scope))
        assert [e.moved for e in entries] == segments_series(warehouse, scope)[5:]
        monthly, daily = "monthly, 5 years (60)", "daily, 1 year (365)"

        def run_baseline() -> None:
            baseline(warehouse, scope)

        def run_monthly() -> None:
            engine_series(warehouse, scope, Granularity.month)

        def run_segments() -> None:
            segments_series(warehouse, scope)

        def run_daily() -> None:
            engine_series(warehouse, scope, Granularity.day)

        results: list[Result] = [
            (monthly, "baseline: hand-written DuckDB SQL", median(run_baseline, runs)),
            (monthly, "engine, in-process", median(run_monthly, runs)),
            (monthly, "engine from the segments, in-process", median(run_segments, runs)),
            (daily, "engine, in-process", median(run_daily, runs)),
        ]
        # each request computed: the answer cache would serve every repeat
        headers = {"Authorization": f"Bearer {secret}", "Cache-Control": "no-cache"}
        with httpx.Client(base_url=url, headers=headers, timeout=900) as client:
            for label, interval, (start, end) in (
                ("monthly, 5 years (60)", "month", MONTHLY),
                ("daily, 1 year (365)", "day", DAILY),
            ):
                target = f"/v1/metrics?interval={interval}&start_date={start}&end_date={end}"

                def get(target: str = target) -> None:
                    client.get(target).raise_for_status()

                results.append((label, "GET /v1/metrics over HTTP", median(get, runs)))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(f"# {platform.node()}: {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"monthly {MONTHLY[0]}..{MONTHLY[1]}, daily {DAILY[0]}..{DAILY[1]}, USD base\n")
    rows = []
    with tempfile.TemporaryDirectory(prefix="cohortd-bench-metrics-") as tmp:
        for size in args.sizes:
            found = bench(size, Path(tmp), args.runs)
            for series, what, timing in found:
                rows.append((size, series, what, timing, found[0][2]))
            print(f"{size:,} done", flush=True)
    print("| customers | series | what | median wall s | median CPU s | × baseline (wall, CPU) |")
    print("|---:|---|---|---:|---:|---:|")
    for size, series, what, (wall, cpu), base in rows:
        ratio = f"{wall / base[0]:.2f}, {cpu / base[1]:.2f}" if "month" in series else ""
        print(f"| {size:,} | {series} | {what} | {wall:.3f} | {cpu:.3f} | {ratio} |")


if __name__ == "__main__":
    main()
