"""The Spark warehouse (local mode) against DuckDB, in one process, on global-SaaS data.

    uv run --extra spark python benchmarks/spark.py [--customers 100000] [--runs 2] [--memory 8g]

Generates the global-saas demo population (``demo-data --shape global-saas``: five years
up to END, 20 currencies, ~60 % billed outside USD, several stretches per customer) as
Parquet, then for each warehouse, DuckDB first (the reference) and a local Spark
session (``spark://local?path=…``, every core):

- imports the files (``cohortd import``'s pipeline, derived tables included);
- times the main reports (engine, median of ``--runs`` after one unmeasured call): the
  monthly triangle, weekly, quarterly ``fix_fx``, ``breakdown=country``, a report in the
  past, and the monthly SPEC §8 metrics over five years;
- generates the auto cohorts and times one snapshot run of all of them
  (``intelligence.jobs.record``, as the CLI runs it).

Every report's and the metrics' JSON must be byte-identical on both warehouses, and the
two runs' snapshots equal, or the script stops. For Spark it also prints what bounds it:
the session's start-up, one trivial statement's round trip (the fixed cost each
statement pays), the SQL statements each operation issued, and the lake's Parquet files.

Prints Markdown tables (docs/benchmarks.md, "Spark").
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import select

from cohortd.cohorts.models import Cohort
from cohortd.db import make_engine, make_sessionmaker
from cohortd.db.migrate import upgrade
from cohortd.demo import DemoConfig, DemoFormat, Shape, write_demo_data
from cohortd.engine import metrics
from cohortd.engine.metrics import Granularity
from cohortd.engine.periods import Interval, first_day, period_of
from cohortd.engine.retention import Filters
from cohortd.imports.columns import ImportKind
from cohortd.imports.parsing import ImportSource
from cohortd.imports.pipeline import run_import
from cohortd.intelligence import definitions, jobs
from cohortd.intelligence.models import Anomaly, CohortRecording
from cohortd.intelligence.service import Caller
from cohortd.keys import service as keys
from cohortd.reports.service import ReportParams, cohort_report, parse_query
from cohortd.warehouse import Warehouse, connect

END = date(2026, 11, 30)
REPORTS = {
    "monthly report": ReportParams(interval="month", date=END.isoformat()),
    "weekly report": ReportParams(interval="week", date=END.isoformat()),
    "quarterly fix_fx": ReportParams(interval="quarter", fix_fx="true", date=END.isoformat()),
    "monthly, breakdown=country": ReportParams(
        interval="month", breakdown="country", date=END.isoformat()
    ),
    "monthly, date in the past": ReportParams(interval="month", date="2024-06-30"),
}


class Statements:
    """Counts the SQL statements a Spark session is given (``SparkSession.sql``)."""

    count = 0

    @classmethod
    @contextmanager
    def counting(cls) -> Iterator[None]:
        from pyspark.sql import SparkSession

        original = SparkSession.sql

        def sql(self: Any, *args: Any, **kwargs: Any) -> Any:
            cls.count += 1
            return original(self, *args, **kwargs)

        SparkSession.sql = sql  # type: ignore[method-assign]
        try:
            yield
        finally:
            SparkSession.sql = original  # type: ignore[method-assign]


class Jobs:
    """Spark jobs and stages run between two probes: each probe runs a one-task job in
    a job group of its own and reads its job and stage ids (both count up from 0)."""

    def __init__(self, warehouse: Warehouse) -> None:
        spark = getattr(warehouse, "_session", None)  # DuckDB has none: counts 0
        self.context = spark.sparkContext if spark is not None else None
        self.last = self._probe()

    def _probe(self) -> tuple[int, int]:
        if self.context is None:
            return (0, 0)
        self.context.setJobGroup("cohortd-bench-probe", "probe")
        try:
            self.context.parallelize([1], 1).count()
        finally:
            self.context.setLocalProperty("spark.jobGroup.id", None)  # type: ignore[arg-type]
        tracker = self.context.statusTracker()
        job = max(tracker.getJobIdsForGroup("cohortd-bench-probe"))
        info = tracker.getJobInfo(job)
        return job, max(info.stageIds) if info is not None else 0

    def since(self) -> tuple[int, int]:
        """(jobs, stages) since the last call."""
        now = self._probe()
        ran = (now[0] - self.last[0] - 1, now[1] - self.last[1] - 1)
        self.last = now
        return ran


def _timed(action: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = action()
    return time.perf_counter() - start, result


def _measure(
    action: Callable[[], Any], runs: int, jobs: Jobs
) -> tuple[float, tuple[int, int, int], Any]:
    """Median seconds of ``runs`` after one unmeasured call; statements, Spark jobs and
    stages per call; the result."""
    result = action()
    jobs.since()
    before = Statements.count
    times = []
    for _ in range(runs):
        seconds, result = _timed(action)
        times.append(seconds)
    ran = jobs.since()
    counts = ((Statements.count - before) // runs, ran[0] // runs, ran[1] // runs)
    return statistics.median(times), counts, result


def _report(warehouse: Warehouse, caller: Caller, params: ReportParams) -> bytes:
    query, fmt = parse_query(params, default_currency="USD")
    body = cohort_report(
        warehouse, caller.scope, query, fmt, max_cells=10_000_000, timeout_seconds=3600.0
    )
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)


def _metrics(warehouse: Warehouse, caller: Caller) -> bytes:
    series = metrics.metrics_series(
        warehouse,
        caller.scope,
        members=metrics.universe(warehouse, caller.scope, Filters(), None),
        granularity=Granularity.month,
        start=first_day(period_of(END, Interval.month) - 59, Interval.month),
        end=END,
        today=END,
        currency="USD",
        fix_fx=False,
    )
    return orjson.dumps([e.as_json() for e in series.entries], option=orjson.OPT_SORT_KEYS)


def _recorded(sessions: Any, run_id: str) -> list[tuple[Any, ...]]:
    """A run's recordings (cohort name, members, average scores) and anomalies (cohort
    name, type, period, value), sorted: what two warehouses' runs must agree on."""
    with sessions() as session:
        recordings = session.execute(
            select(
                Cohort.name,
                CohortRecording.member_count,
                CohortRecording.avg_health_score,
                CohortRecording.avg_risk_score,
            )
            .join(Cohort, Cohort.id == CohortRecording.cohort_id)
            .where(CohortRecording.run_id == run_id)
        ).all()
        anomalies = session.execute(
            select(Cohort.name, Anomaly.type, Anomaly.period, Anomaly.value)
            .join(Cohort, Cohort.id == Anomaly.cohort_id)
            .where(Anomaly.run_id == run_id)
        ).all()
    return sorted(tuple(r) for r in recordings) + sorted(tuple(a) for a in anomalies)


def bench(name: str, url: str, root: Path, files: Any, runs: int) -> dict[str, Any]:
    control = f"sqlite:///{root / f'{name}-control.sqlite3'}"
    upgrade(control)
    engine = make_engine(control)
    sessions = make_sessionmaker(engine)
    with sessions.begin() as session:
        org = keys.create_organization(session, name=f"bench-{name}", base_currency="USD")
        caller = Caller(org.id, False, "USD")
    found: dict[str, Any] = {"rows": {}, "bodies": {}}
    start_s, warehouse = _timed(lambda: connect(url))
    found["start"] = start_s
    counter = Jobs(warehouse)
    with Statements.counting():
        before = Statements.count
        import_s, outcome = _timed(
            lambda: run_import(
                warehouse,
                caller.scope,
                [
                    ImportSource(ImportKind.customers, files.customers_path, "customers.parquet"),
                    ImportSource(
                        ImportKind.subscriptions,
                        files.subscriptions_path,
                        "subscriptions.parquet",
                    ),
                ],
            )
        )
        assert outcome.succeeded, outcome.problems[:3]
        found["rows"]["import (customers + subscriptions, derived tables)"] = (
            import_s,
            (Statements.count - before, *counter.since()),
        )
        ping = _measure(lambda: warehouse.fetch_rows("SELECT 1 AS one"), max(runs, 3), counter)
        found["ping"] = ping[0]
        for label, params in REPORTS.items():
            seconds, counts, body = _measure(
                lambda p=params: _report(warehouse, caller, p), runs, counter
            )
            found["rows"][label] = (seconds, counts)
            found["bodies"][label] = body
        seconds, counts, body = _measure(lambda: _metrics(warehouse, caller), runs, counter)
        found["rows"]["metrics, monthly over 5 years"] = (seconds, counts)
        found["bodies"]["metrics"] = body
        with sessions.begin() as session:
            made = definitions.generate(session, warehouse, caller)
        counter.since()
        before = Statements.count
        run_s, started = _timed(lambda: jobs.record(sessions, warehouse, caller, trigger="bench"))
        assert started.run.status == "succeeded", started.run.error
        found["rows"][f"snapshot run, {made.inserted} auto cohorts"] = (
            run_s,
            (Statements.count - before, *counter.since()),
        )
        found["recorded"] = _recorded(sessions, started.run.id)
    warehouse.close()
    engine.dispose()
    return found


def lake_files(folder: Path) -> tuple[int, int]:
    parquet = [p for p in folder.rglob("*.parquet") if p.is_file()]
    return len(parquet), sum(p.stat().st_size for p in parquet)


def run(customers: int, seed: int, runs: int, memory: str) -> str:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        gen_s, files = _timed(
            lambda: write_demo_data(
                root / "demo",
                DemoConfig(customers=customers, seed=seed, end=END, shape=Shape.global_saas),
                file_format=DemoFormat.parquet,
            )
        )
        duck = bench("duckdb", f"duckdb:///{root / 'bench.duckdb'}", root, files, runs)
        lake = root / "lake"
        url = f"spark://local?path={lake}&memory={memory}"
        spark = bench("spark", url, root, files, runs)
        for label, body in duck["bodies"].items():
            if spark["bodies"][label] != body:
                raise SystemExit(f"{label}: Spark's answer differs from DuckDB's")
        if spark["recorded"] != duck["recorded"]:
            diff = sorted(set(spark["recorded"]) ^ set(duck["recorded"]))
            print(*diff[:20], sep="\n")
            raise SystemExit("the snapshot runs recorded different members, scores or anomalies")
        count, size = lake_files(lake)
    lines = [
        f"{customers:,} customers of global-SaaS shape (seed {seed}, {files.subscriptions:,} "
        f"subscription rows, generated in {gen_s:.0f} s), as of {END}, "
        f"{platform.machine()} / {os.cpu_count()} cores / Python {platform.python_version()}, "
        f"Spark's heap {memory}; "
        f"every answer byte-identical on both warehouses, both snapshot runs recorded the "
        f"same {len(duck['recorded']):,} recordings and anomalies.",
        "",
        "| operation | DuckDB s | Spark s | Spark / DuckDB | Spark statements, jobs, stages |",
        "|---|---:|---:|---:|---:|",
        f"| open the warehouse | {duck['start']:.2f} | {spark['start']:.2f} | | |",
    ]
    for label, (duck_s, _) in duck["rows"].items():
        spark_s, (statements, jobs_run, stages) = spark["rows"][label]
        lines.append(
            f"| {label} | {duck_s:,.2f} | {spark_s:,.2f} | {spark_s / duck_s:,.1f}x | "
            f"{statements:,}, {jobs_run:,}, {stages:,} |"
        )
    lines += [
        "",
        f"Spark's fixed cost: a `SELECT 1` round trip {spark['ping'] * 1000:,.0f} ms "
        f"(DuckDB {duck['ping'] * 1000:,.1f} ms); the lake held {count:,} Parquet files, "
        f"{size / 1e6:,.1f} MB, after the run.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--memory", default="8g", help="the local Spark JVM's heap")
    args = parser.parse_args()
    print(run(args.customers, args.seed, args.runs, args.memory), flush=True)


if __name__ == "__main__":
    main()
