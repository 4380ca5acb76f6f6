"""A snapshot run of every auto cohort, against one monthly report in the same process.

    uv run python benchmarks/snapshots.py [--customers 100000] [--seed 7]
        [--shape default|global-saas] [--reference]

Generates the demo data (``cohortd demo``'s generator, ``--shape``: the default
population or the global-SaaS one) at ``--customers``, imports it into
a temporary DuckDB warehouse with a temporary SQLite control plane, generates the auto
cohorts (``POST /api/cohorts/definitions``), then measures in one process:

- the baseline: one monthly retention report of the organization (engine, warm: median
  of three after one unmeasured call);
- two snapshot runs (``intelligence.jobs.record``, as the CLI and the schedule run them),
  each step's time, and the bytes of member sets each run stored (the first stores every
  whole set, the second only diffs);
- ``GET /v1/cohorts/compare`` (all cohorts, and ``cohort_type=rep``) before any run
  (computed) and after the runs (the last run's kept month, ``intelligence.kept``), and
  one cohort's 36-month curve (the largest vintage), each through its service function
  in a reader of its own, median of three;
- the monthly report again while a snapshot run is in flight (a reader of its own, as
  a request has), median of the reports that ran during the run, against the same
  report alone;
- with ``--reference``: the same run's computation one cohort at a time (the path runs
  took before they were batched, kept in ``tests/intelligence/reference_run.py``).

Prints a Markdown table (docs/benchmarks.md, "Snapshot runs").
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from cohortd import clock
from cohortd.cohorts import service as cohort_service
from cohortd.cohorts.models import Cohort as CohortModel
from cohortd.db import make_engine, make_sessionmaker
from cohortd.db.migrate import upgrade
from cohortd.demo.catalog import Shape
from cohortd.demo.generator import DemoConfig, write_demo_data
from cohortd.engine.periods import Interval
from cohortd.engine.report import run_report
from cohortd.engine.retention import ReportQuery
from cohortd.imports.columns import ImportKind
from cohortd.imports.parsing import ImportSource
from cohortd.imports.pipeline import run_import
from cohortd.intelligence import definitions, jobs, runs, service
from cohortd.intelligence.models import CohortRecording
from cohortd.intelligence.service import Caller
from cohortd.keys import service as keys
from cohortd.warehouse import Scope, connect


def _timed(action: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = action()
    return time.perf_counter() - start, result


def _stored_bytes(sessions: Any, run_id: str) -> tuple[int, int]:
    """Bytes of member sets a run stored: (whole sets, diffs)."""
    with sessions() as session:
        whole, entered, exited = session.execute(
            select(
                func.coalesce(func.sum(func.length(CohortRecording.members)), 0),
                func.coalesce(func.sum(func.length(CohortRecording.entered)), 0),
                func.coalesce(func.sum(func.length(CohortRecording.exited)), 0),
            ).where(CohortRecording.run_id == run_id)
        ).one()
    return int(whole), int(entered) + int(exited)


def _median(action: Callable[[], Any], runs: int = 3) -> float:
    return statistics.median(_timed(action)[0] for _ in range(runs))


def _compares(
    sessions: Any, warehouse: Any, caller: Caller, report_s: float, how: str
) -> list[tuple[str, float, str]]:
    """Compare (every cohort, and ``cohort_type=rep``) in its own reader; ``how`` says
    whether it computes or reads the last run's kept month."""
    found: list[tuple[str, float, str]] = []
    with sessions() as session:
        for kind in (None, "rep"):

            def compared(kind: str | None = kind) -> Any:
                with warehouse.reading():
                    return service.compare(
                        session, warehouse, caller, cohort_type=kind, interval=None,
                        period=None, base_currency=None,
                    )  # fmt: skip

            count = len(compared()["data"])
            seconds = _median(compared)
            name = "compare" + (f" cohort_type={kind}" if kind else ", every cohort")
            found.append(
                (f"{name} ({count} cohorts), {how}", seconds, f"{seconds / report_s:.2f}x")
            )
    return found


def _reads(
    sessions: Any, warehouse: Any, caller: Caller, query: ReportQuery, report_s: float
) -> list[tuple[str, float, str]]:
    """A curve, and the report during a snapshot run, each in its own reader."""
    found: list[tuple[str, float, str]] = []
    with sessions() as session:
        vintages = [
            r
            for r in session.scalars(select(CohortModel).where(CohortModel.org_id == caller.org_id))
            if r.cohort_type == "vintage"
        ]
        largest = max(
            vintages,
            key=lambda r: (
                warehouse.to_pyarrow(
                    cohort_service.cohort_members_table(session, warehouse, caller, r.id)
                ).num_rows
            ),
        )

        def curve() -> Any:
            with warehouse.reading():
                return service.cohort_curve(
                    session, warehouse, caller, largest.id, months=36, base_currency=None
                )

        paying = curve()["initial_customers"]
        seconds = _median(curve)
        note = f"{seconds / report_s:.1f}x; {paying:,} paying members"
        found.append((f"curve of the largest vintage ({largest.name}), 36 months", seconds, note))
    during: list[float] = []
    finished = threading.Event()

    def record() -> None:
        try:
            jobs.record(sessions, warehouse, caller, trigger="bench")
        finally:
            finished.set()

    thread = threading.Thread(target=record)
    thread.start()
    while not finished.is_set():
        with warehouse.reading():
            seconds, _ = _timed(lambda: run_report(warehouse, caller.scope, query))
        if not finished.is_set():
            during.append(seconds)
    thread.join()
    if during:
        seconds = statistics.median(during)
        found.append(
            (
                "monthly report while a snapshot run is in flight",
                seconds,
                f"{seconds / report_s:.1f}x the report alone; median of {len(during)}",
            )
        )
    return found


def run(customers: int, seed: int, shape: Shape, reference: bool) -> str:
    today = clock.today()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        url = f"sqlite:///{root / 'control.sqlite3'}"
        upgrade(url)
        engine = make_engine(url)
        sessions = make_sessionmaker(engine)
        with sessions.begin() as session:
            org = keys.create_organization(session, name="bench", base_currency="USD")
            caller = Caller(org.id, False, "USD")
        warehouse = connect(f"duckdb:///{root / 'bench.duckdb'}")
        gen_s, files = _timed(
            lambda: write_demo_data(
                root / "demo", DemoConfig(customers=customers, seed=seed, shape=shape)
            )
        )
        import_s, outcome = _timed(
            lambda: run_import(
                warehouse,
                caller.scope,
                [
                    ImportSource(ImportKind.customers, files.customers_path, "customers.csv"),
                    ImportSource(
                        ImportKind.subscriptions, files.subscriptions_path, "subscriptions.csv"
                    ),
                ],
            )
        )
        assert outcome.succeeded, outcome.problems
        rows = warehouse.con.con.execute("SELECT count(*) FROM subscriptions").fetchone()[0]
        with sessions.begin() as session:
            made = definitions.generate(session, warehouse, caller)
        cohort_count = made.inserted

        query = ReportQuery(as_of=today, interval=Interval.month, base_currency="USD")
        run_report(warehouse, Scope(caller.org_id, False), query)  # warm: derived tables
        report_times = [
            _timed(lambda: run_report(warehouse, caller.scope, query))[0] for _ in range(3)
        ]
        report_s = statistics.median(report_times)

        table: list[tuple[str, float, str]] = [
            ("one monthly report (baseline)", report_s, "median of 3, warm"),
        ]
        table.extend(_compares(sessions, warehouse, caller, report_s, "computed (no run yet)"))
        for label in ("first run (whole sets)", "second run (diffs)"):
            marks: list[tuple[str, float]] = []

            def progress(step: str, done: int, total: int, marks: list[Any] = marks) -> None:
                marks.append((step, time.perf_counter()))

            start = time.perf_counter()
            started = jobs.record(sessions, warehouse, caller, trigger="bench", progress=progress)
            total_s = time.perf_counter() - start
            assert started.run.status == "succeeded", started.run.error
            whole, diffs = _stored_bytes(sessions, started.run.id)
            steps = [f"{a}: {b_at - a_at:.1f} s" for (a, a_at), (_, b_at) in pairwise(marks)]
            table.append(
                (
                    f"snapshot run, {cohort_count} cohorts, {label}",
                    total_s,
                    f"{total_s / report_s:.1f}x the report; {', '.join(steps)}; "
                    f"member sets {whole:,} B whole + {diffs:,} B diffs",
                )
            )
        table.extend(_compares(sessions, warehouse, caller, report_s, "the last run's month"))
        table.extend(_reads(sessions, warehouse, caller, query, report_s))
        if reference:
            sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
            from tests.intelligence.reference_run import reference_outcome

            with sessions() as session:
                inputs = runs.read_inputs(session, caller)
                ref_s, _ = _timed(
                    lambda: reference_outcome(session, warehouse, caller, inputs, today)
                )
                batch_s, _ = _timed(lambda: runs.compute(warehouse, caller, inputs, today=today))
            table.append(
                ("computation alone, all cohorts together", batch_s, f"{batch_s / report_s:.1f}x")
            )
            table.append(
                ("computation one cohort at a time (reference)", ref_s, f"{ref_s / batch_s:.1f}x")
            )
        warehouse.close()
        engine.dispose()
    lines = [
        f"{customers:,} demo customers ({shape} shape, seed {seed}), {rows:,} subscription"
        f" rows (generated in "
        f"{gen_s:.0f} s, imported in {import_s:.0f} s), DuckDB + SQLite, as of {today}, "
        f"{platform.machine()} / {os.cpu_count()} cores / Python {platform.python_version()}.",
        "",
        "| operation | time | notes |",
        "|---|---:|---|",
        *[f"| {name} | {seconds:,.2f} s | {notes} |" for name, seconds, notes in table],
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--shape", type=Shape, choices=list(Shape), default=Shape.default)
    parser.add_argument("--reference", action="store_true")
    args = parser.parse_args()
    print(run(args.customers, args.seed, args.shape, args.reference))


if __name__ == "__main__":
    main()
