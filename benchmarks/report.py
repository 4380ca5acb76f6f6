"""Benchmark of the cohort retention report (issue #4).

Synthetic data (numpy + pyarrow) in a temporary DuckDB file; for each size: monthly,
weekly, ``breakdown=country&fix_fx=true`` and a region filter, through the engine (and,
with ``--http``, as ``GET /v1/reports/cohort`` against the real app served by uvicorn in
a thread, timed with httpx: auth, parsing and the JSON body included), median of 5 runs
after one warm-up. Two baselines in the same run, over the same derived tables and
factor tables, each checked cell by cell against the engine's monthly report:
the whole monthly report (customers, MRR, gross, initial values) hand-written as
DuckDB SQL that expands every (member, period) cell, and a hand-tuned DuckDB form of
its customers, MRR and initial values only (no gross): difference arrays over the
stored month numbers.

    uv run python benchmarks/report.py --sizes 10000 100000 [1000000] [--http]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import httpx
import numpy as np
import pyarrow as pa
import uvicorn

from cohortd.app import create_app
from cohortd.config import Settings
from cohortd.engine import derived
from cohortd.engine.periods import Interval, last_day
from cohortd.engine.report import factor_tables, run_report
from cohortd.engine.triangle_blocks import cohort_sizes
from cohortd.keys import service
from cohortd.keys.models import Role
from cohortd.reports.service import ReportParams, parse_query
from cohortd.warehouse import Scope, Warehouse, connect
from cohortd.warehouse.tables import CUSTOMERS, SCHEMAS, SUBSCRIPTIONS

AS_OF = date(2025, 6, 15)
EPOCH = np.datetime64("2020-01-01")
CURRENCIES = np.array(["USD", "EUR", "GBP", "SEK", "JPY", "CHF", "AUD", "CAD"])
CURRENCY_WEIGHTS = np.array([0.45, 0.25, 0.1, 0.05, 0.05, 0.04, 0.03, 0.03])
COUNTRIES = np.array(["US", "DE", "GB", "SE", "JP", "CH", "AU", "CA", "FR", "AT"])
QUERIES = {
    "monthly": "interval=month",
    "weekly": "interval=week",
    "country+fix_fx": "interval=month&breakdown=country&fix_fx=true",
    "region=dach nordics": "interval=month&region=dach nordics",
}


def generate(size: int, seed: int = 4) -> tuple[pa.Table, pa.Table]:
    """``size`` customers, 1-4 constant-MRR stretches each, 2020-01 .. 2025-06."""
    rng = np.random.default_rng(seed)
    ids = np.char.add("cus_", np.arange(size).astype(str))
    currency_index = rng.choice(len(CURRENCIES), size=size, p=CURRENCY_WEIGHTS)
    customers = {
        "id": ids,
        "country": COUNTRIES[rng.integers(0, len(COUNTRIES), size)],
        "currency": CURRENCIES[currency_index],
        "created_at": (EPOCH + rng.integers(0, 2000, size).astype("timedelta64[D]")).astype(
            "datetime64[us]"
        ),
    }
    stretches = rng.integers(1, 5, size)
    owner = np.repeat(np.arange(size), stretches)
    rows = len(owner)
    first = np.repeat(rng.integers(0, 2000, size), stretches)
    order = np.arange(rows) - np.repeat(np.cumsum(stretches) - stretches, stretches)
    length = rng.integers(20, 400, rows)
    start = first + order * 200
    end = start + length
    still_running = (order == np.repeat(stretches - 1, stretches)) & (rng.random(rows) < 0.5)
    mrr = rng.choice(
        [0, 2900, 4900, 9900, 29900, 99900], size=rows, p=[0.1, 0.3, 0.25, 0.2, 0.1, 0.05]
    )
    end_dates = (EPOCH + end.astype("timedelta64[D]")).astype("datetime64[D]")
    subscriptions = {
        "id": np.char.add("sub_", np.arange(rows).astype(str)),
        "customer_id": ids[owner],
        "currency": CURRENCIES[currency_index[owner]],
        "mrr_minor": mrr.astype(np.int64),
        "start_date": (EPOCH + start.astype("timedelta64[D]")).astype("datetime64[D]"),
        "end_date": pa.array(end_dates, mask=still_running),
    }
    return _table(CUSTOMERS, customers, size), _table(SUBSCRIPTIONS, subscriptions, rows)


def _table(name: str, columns: dict[str, object], rows: int) -> pa.Table:
    schema = SCHEMAS[name].to_pyarrow()
    arrays = []
    for f in schema:
        value = columns.get(f.name)
        if value is None:
            arrays.append(pa.nulls(rows, f.type))
        else:
            arrays.append(
                pa.array(value).cast(f.type)
                if not isinstance(value, pa.Array)
                else value.cast(f.type)
            )
    return pa.table(arrays, schema=schema)


def load(warehouse: Warehouse, scope: Scope, customers: pa.Table, subs: pa.Table) -> None:
    def owned(table: pa.Table) -> pa.Table:
        table = table.set_column(0, "org_id", pa.array([scope.org_id] * len(table), pa.string()))
        return table.set_column(1, "livemode", pa.array([False] * len(table), pa.bool_()))

    with warehouse.transaction():
        warehouse.insert_arrow(CUSTOMERS, owned(customers))
        warehouse.insert_arrow(SUBSCRIPTIONS, owned(subs))
        derived.refresh(warehouse, scope)  # what the catch-up after an import does


BASELINE_SQL = """
-- The monthly report (fix_fx=false, no filters) hand-written for DuckDB over the same
-- per-customer facts the engine reads (mrr_segments: constant-MRR day ranges per
-- customer and currency, kept at import), with "a range covers the evaluation day of
-- period p" turned into arithmetic on month numbers and every (member, period) cell
-- expanded: customers, MRR and gross per cohort and period, initial MRR per cohort.
-- Conversion factors: the same exact DECIMAL(38, 18) tables the engine builds.
WITH seg AS (
  SELECT customer_id, currency, level_minor AS v, paid_started_at AS ps,
         year(paid_started_at) * 12 + month(paid_started_at) - 1 AS p0,
         year(start_date) * 12 + month(start_date) - 1 AS lo,
         CASE WHEN start_date <= $as_of AND (end_date IS NULL OR end_date > $as_of)
              THEN $current
              ELSE least(coalesce(year(end_date) * 12 + month(end_date) - 1, $current) - 1,
                         $current - 1) END AS hi,
         start_date = paid_started_at AS at_start
  FROM mrr_segments
  WHERE org_id = $org AND NOT livemode AND paid_started_at <= $as_of
), initial AS (
  SELECT s.customer_id, any_value(s.p0) AS p0, sum(s.v * d.f) AS b
  FROM seg s JOIN by_day d ON d.currency = s.currency AND d.day = s.ps
  WHERE s.at_start GROUP BY s.customer_id
), cells AS (
  SELECT s.customer_id, s.p0, s.lo + k AS p, s.v * f.f AS a
  FROM seg s, unnest(range(s.hi - s.lo + 1)) t(k)
  JOIN by_period f ON f.currency = s.currency AND f.p = s.lo + k
  WHERE s.hi >= s.lo
), member AS (
  SELECT c.customer_id, c.p0, c.p, sum(c.a) AS a FROM cells c GROUP BY ALL
)
SELECT m.p0, m.p, count(*) AS customers, sum(m.a) AS mrr, sum(least(m.a, i.b)) AS gross
FROM member m JOIN initial i USING (customer_id)
GROUP BY ALL
UNION ALL
SELECT p0, NULL, count(*), sum(b), NULL FROM initial GROUP BY ALL
"""


FAST_BASELINE_SQL = """
-- The monthly report's customers, MRR and initial values (no gross), hand-tuned for
-- DuckDB: the stored month numbers of each spell/segment (kept at import), difference
-- arrays per (cohort, currency) and a running sum, then the factor per period.
WITH seg AS (
  SELECT month0 AS p0, month_start AS lo, currency, level_minor AS v,
         CASE WHEN start_date <= $as_of AND (end_date IS NULL OR end_date > $as_of)
              THEN $current
              ELSE least(coalesce(month_end, $current), $current) - 1 END AS hi
  FROM mrr_segments
  WHERE org_id = $org AND NOT livemode AND paid_started_at <= $as_of
), seg_d AS (
  SELECT p0, currency, p, sum(x) AS x FROM (
    SELECT p0, currency, lo AS p, v AS x FROM seg WHERE hi >= lo
    UNION ALL
    SELECT p0, currency, hi + 1, -v FROM seg WHERE hi >= lo AND hi < $current
  ) GROUP BY ALL
), seg_l AS (
  SELECT p0, currency, p, sum(x) OVER w AS level,
         coalesce(lead(p) OVER w, $current + 1) AS upto
  FROM seg_d WINDOW w AS (PARTITION BY p0, currency ORDER BY p)
), mrr AS (
  SELECT l.p0, l.p, sum(l.level * f.f) AS mrr
  FROM (SELECT p0, currency, unnest(range(p, upto)) AS p, level
        FROM seg_l WHERE level <> 0) l
  JOIN by_period f ON f.currency = l.currency AND f.p = l.p
  GROUP BY ALL
), spell AS (
  SELECT month0 AS p0, month_start AS lo,
         CASE WHEN start_date <= $as_of AND (end_date IS NULL OR end_date > $as_of)
              THEN $current
              ELSE least(coalesce(month_end, $current), $current) - 1 END AS hi
  FROM paid_spells
  WHERE org_id = $org AND NOT livemode AND paid_started_at <= $as_of
), spell_d AS (
  SELECT p0, p, sum(x) AS x FROM (
    SELECT p0, lo AS p, 1 AS x FROM spell WHERE hi >= lo
    UNION ALL
    SELECT p0, hi + 1, -1 FROM spell WHERE hi >= lo AND hi < $current
  ) GROUP BY ALL
), spell_l AS (
  SELECT p0, p, sum(x) OVER w AS level, coalesce(lead(p) OVER w, $current + 1) AS upto
  FROM spell_d WINDOW w AS (PARTITION BY p0 ORDER BY p)
), customers AS (
  SELECT p0, unnest(range(p, upto)) AS p, level AS customers FROM spell_l WHERE level <> 0
), initial AS (
  SELECT s.month0 AS p0, count(DISTINCT s.customer_id) AS customers,
         sum(s.level_minor * d.f) AS mrr
  FROM mrr_segments s JOIN by_day d ON d.currency = s.currency AND d.day = s.paid_started_at
  WHERE s.org_id = $org AND NOT s.livemode AND s.paid_started_at <= $as_of
    AND s.start_date = s.paid_started_at
  GROUP BY ALL
)
SELECT coalesce(c.p0, m.p0) AS p0, coalesce(c.p, m.p) AS p, coalesce(c.customers, 0), m.mrr
FROM customers c FULL JOIN mrr m ON m.p0 = c.p0 AND m.p = c.p
UNION ALL
SELECT p0, NULL, customers, mrr FROM initial
"""


def baseline_runner(
    warehouse: Warehouse, scope: Scope, sql: str = BASELINE_SQL
) -> Callable[[], list[tuple]]:
    """A hand-written monthly report, its factor tables built once beforehand (the
    engine builds its own on every call, inside its timing)."""
    params = ReportParams(interval="month", date=str(AS_OF))
    query, _ = parse_query(params, default_currency="USD")
    sizes = warehouse.to_pyarrow(cohort_sizes(warehouse, scope, query))
    first = min(sizes.column("p0").to_pylist())
    found = factor_tables(warehouse, scope, query, first)
    raw = warehouse.con.con
    raw.register("_by_period", found.by_period)
    raw.register("_by_day", found.by_day)
    raw.execute("CREATE OR REPLACE TEMP TABLE by_period AS SELECT * FROM _by_period")
    raw.execute("CREATE OR REPLACE TEMP TABLE by_day AS SELECT * FROM _by_day")
    values = {"org": scope.org_id, "as_of": AS_OF, "current": query.current}

    def run() -> list[tuple]:
        return raw.execute(sql, values).fetchall()

    return run


def check_baseline(rows: list[tuple], warehouse: Warehouse, scope: Scope) -> None:
    """Stop unless the hand-written SQL and the engine agree on every monthly cell."""
    params = ReportParams(interval="month", date=str(AS_OF))
    query, _ = parse_query(params, default_currency="USD")
    report = run_report(warehouse, scope, query).envelope()
    cohorts = {row["cohort_group"]: row for row in report["result"]["list"]}
    checked = 0
    for p0, p, customers, mrr, *gross_or_none in rows:
        gross = gross_or_none[0] if gross_or_none else None  # the fast baseline has none
        mrr = Decimal(0) if mrr is None else mrr
        row = cohorts[last_day(p0, Interval.month).isoformat()]
        if p is None:
            assert row["initial_customers"] == customers, (p0, row, customers)
            assert Decimal(str(row["initial_mrr"])) == round_money(mrr), (p0, row, mrr)
            continue
        cell = row["periods"][p - p0]
        assert cell["customers_retained"] == customers, (p0, p, cell, customers)
        assert Decimal(str(cell["mrr_retained"])) == round_money(mrr), (p0, p, cell, mrr)
        if gross is not None:
            assert Decimal(str(cell["mrr_retained_gross"])) == round_money(gross), (p0, p, cell)
        checked += 1
    assert checked, "the baseline returned no cell"


def round_money(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def median_seconds(action: Callable[[], object], runs: int = 5) -> float:
    action()  # warm-up
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


@contextmanager
def served(folder: Path) -> Iterator[tuple[str, object]]:
    """The real app under uvicorn on a free loopback port, in a thread: ``(url, app)``."""
    settings = Settings(
        data_dir=folder,
        database_url=f"sqlite:///{folder / 'control.sqlite3'}",
        warehouse_url=f"duckdb:///{folder / 'warehouse.duckdb'}",
        rate_limit_per_minute=1_000_000,
        report_max_cells=10_000_000,
        query_timeout_seconds=600,
    )
    app = create_app(settings, configure_logs=False)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 60
    while not server.started:
        if time.time() > deadline:
            raise RuntimeError("the server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def bench_org(app: object, role: Role = Role.admin) -> tuple[Scope, str]:
    """A test-mode organization (base USD) and a key of ``role`` in the served app."""
    state = app.state  # type: ignore[attr-defined]
    with state.sessions() as session:
        org = service.create_organization(session, name="bench", base_currency="USD")
        key = service.issue_key(session, org_id=org.id, livemode=False, role=role)
        session.commit()
        return Scope(org.id, livemode=False), key.secret


def bench_size(size: int, folder: Path, *, http: bool) -> list[tuple[str, str, float]]:
    folder = folder / f"size_{size}"
    folder.mkdir()
    if not http:
        warehouse = connect(f"duckdb:///{folder / 'bench.duckdb'}")
        scope = Scope(f"org_bench_{uuid.uuid4().hex[:8]}", livemode=False)
        results = _bench_engine(warehouse, scope, size)
        warehouse.close()
        return results
    with served(folder) as (url, app):
        scope, secret = bench_org(app)
        results = _bench_engine(app.state.warehouse, scope, size)  # type: ignore[attr-defined]
        headers = {"Authorization": f"Bearer {secret}"}
        with httpx.Client(base_url=url, headers=headers, timeout=600) as client:
            for name, qs in QUERIES.items():
                target = f"/v1/reports/cohort?{qs}&date={AS_OF}"

                def get(target: str = target) -> None:
                    client.get(target).raise_for_status()

                results.append((name, "HTTP", median_seconds(get)))
    return results


def _bench_engine(warehouse: Warehouse, scope: Scope, size: int) -> list[tuple[str, str, float]]:
    customers, subs = generate(size)
    load(warehouse, scope, customers, subs)
    results = []
    for name, qs in QUERIES.items():
        params = ReportParams(**dict(p.split("=") for p in qs.split("&")), date=str(AS_OF))
        query, _ = parse_query(params, default_currency="USD")
        seconds = median_seconds(lambda q=query: run_report(warehouse, scope, q))
        results.append((name, "engine", seconds))
    run = baseline_runner(warehouse, scope)
    check_baseline(run(), warehouse, scope)
    baseline = median_seconds(run)
    results.append(("monthly", "baseline SQL", baseline))
    fast = baseline_runner(warehouse, scope, FAST_BASELINE_SQL)
    check_baseline(fast(), warehouse, scope)
    results.append(("monthly, no gross", "hand-tuned SQL", median_seconds(fast)))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument(
        "--http",
        action="store_true",
        help="also time GET /v1/reports/cohort against the app served by uvicorn",
    )
    args = parser.parse_args()
    print(
        f"{'customers':>10}  {'report':<22} {'path':<14} {'median s':>9} {'vs baseline':>12}"
        f" {'vs hand-tuned':>14}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            results = bench_size(size, Path(tmp), http=args.http)
            baseline = next(s for n, p, s in results if p == "baseline SQL")
            tuned = next(s for n, p, s in results if p == "hand-tuned SQL")
            for name, path, seconds in results:
                print(
                    f"{size:>10,}  {name:<22} {path:<14} {seconds:>9.3f}"
                    f" {seconds / baseline:>11.2f}x {seconds / tuned:>13.2f}x"
                )


if __name__ == "__main__":
    main()
