"""Import benchmark: cohortd's import vs DuckDB's own reader into a bare table.

Generates N customers (5 subscription rows each) as CSV and Parquet, then runs, each in
its own child process so that peak RSS is the child's own: (a) the baseline, DuckDB
``read_csv`` / ``read_parquet`` into bare tables of a fresh file, and (b) ``cohortd``'s
import (parse, validate, stage, check, merge: the data committed) into a fresh
warehouse file, then what the import job runs after it, the preparation of the derived
tables for reports (``engine.derived.catch_up``), timed apart.

    uv run python benchmarks/import.py --customers 100000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

SUBS_PER_CUSTOMER = 5


def generate(folder: Path, customers: int) -> None:
    """Files of ``customers`` customers and 5x subscription rows, by DuckDB (fast, exact)."""
    import duckdb

    con = duckdb.connect()
    con.execute(
        f"""
        CREATE TABLE c AS SELECT
          'cus_' || i AS id, 'Customer ' || i AS name, 'user' || i || '@example.com' AS email,
          ['DE','US','FR','GB','JP'][1 + i % 5] AS country, NULL::VARCHAR AS currency,
          ['saas','retail','media'][1 + i % 3] AS industry,
          CASE WHEN i % 2 = 0 THEN ['a', 'b'] ELSE ['c'] END AS tags,
          ((i % 100) / 100.0)::DOUBLE AS engagement_score,
          TIMESTAMP '2020-01-01' + INTERVAL (i % 1500) DAY AS created_at
        FROM range({customers}) t(i)
        """
    )
    con.execute(
        f"""
        CREATE TABLE s AS SELECT
          'sub_' || i || '_' || j AS id, 'cus_' || i AS customer_id, 'plan_' || (j % 3) AS plan_id,
          'USD' AS currency, ((i * 7 + j * 13) % 50000 / 100.0)::DECIMAL(12, 2) AS mrr,
          (DATE '2020-01-01' + INTERVAL (i % 1500 + j * 60) DAY)::DATE AS start_date,
          CASE WHEN j < 4 THEN (DATE '2020-01-01' + INTERVAL (i % 1500 + j * 60 + 60) DAY)::DATE END
            AS end_date,
          CASE WHEN j < 4 THEN 'cancelled' ELSE 'active' END AS status
        FROM range({customers}) t(i), range({SUBS_PER_CUSTOMER}) u(j)
        """
    )
    con.execute(
        f"COPY (SELECT * REPLACE (array_to_string(tags, ';') AS tags) FROM c) "
        f"TO '{folder / 'customers.csv'}' (HEADER)"
    )
    con.execute(f"COPY s TO '{folder / 'subscriptions.csv'}' (HEADER)")
    con.execute(f"COPY c TO '{folder / 'customers.parquet'}' (FORMAT parquet)")
    con.execute(f"COPY s TO '{folder / 'subscriptions.parquet'}' (FORMAT parquet)")
    con.close()


def child_baseline(folder: Path, fmt: str, target: Path) -> dict[str, object]:
    import duckdb

    reader = "read_csv" if fmt == "csv" else "read_parquet"
    con = duckdb.connect(str(target))
    started = time.perf_counter()
    for name in ("customers", "subscriptions"):
        source = folder / f"{name}.{fmt}"
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM {reader}('{source}')")
    elapsed = time.perf_counter() - started
    con.close()
    return {"seconds": elapsed}


PHASES = ("read", "validate", "email hash", "key hash", "stage", "checks", "merge")


def _timed_phases() -> dict[str, float]:
    """Wrap the import's steps with timers (this child process only): where time goes."""
    import functools
    from collections.abc import Callable, Iterator
    from typing import Any

    from cohortd.imports import cells, pipeline, validation
    from cohortd.warehouse import staging

    spent = dict.fromkeys(PHASES, 0.0)
    adding = threading.Lock()

    def timer(phase: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                with adding:  # the validation threads time themselves at once
                    spent[phase] += time.perf_counter() - started

        return timed

    def timed_reader(fn: Callable[..., Iterator[Any]]) -> Callable[..., Iterator[Any]]:
        def read(*args: Any, **kwargs: Any) -> Iterator[Any]:
            batches = fn(*args, **kwargs)
            while True:
                started = time.perf_counter()
                batch = next(batches, None)
                spent["read"] += time.perf_counter() - started
                if batch is None:
                    return
                yield batch

        return read

    pipeline.read_batches = timed_reader(pipeline.read_batches)
    pipeline.validate_batch = timer("validate", validation.validate_batch)
    cells.email_hashed = timer("email hash", cells.email_hashed)
    cells.key_hashes = timer("key hash", cells.key_hashes)
    pipeline._whole_file_checks = timer("checks", pipeline._whole_file_checks)
    stage = staging.Staging
    stage.write_part = timer("stage", stage.write_part)  # type: ignore[method-assign]
    stage.flush = timer("stage", stage.flush)  # type: ignore[method-assign]
    stage._merge_one = timer("merge", stage._merge_one)  # type: ignore[method-assign]
    return spent


def child_cohortd(folder: Path, fmt: str, target: Path) -> dict[str, object]:
    from cohortd.engine import derived
    from cohortd.imports.columns import ImportKind
    from cohortd.imports.parsing import ImportSource
    from cohortd.imports.pipeline import run_import
    from cohortd.warehouse import Scope, connect

    phases = _timed_phases()

    warehouse = connect(f"duckdb:///{target}")
    sources = [
        ImportSource(ImportKind.customers, folder / f"customers.{fmt}", f"customers.{fmt}"),
        ImportSource(
            ImportKind.subscriptions, folder / f"subscriptions.{fmt}", f"subscriptions.{fmt}"
        ),
    ]
    scope = Scope("org_bench", False)
    started, cpu = time.perf_counter(), _cpu()
    outcome = run_import(warehouse, scope, sources)
    elapsed, import_cpu = time.perf_counter() - started, _cpu() - cpu
    import_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    assert outcome.succeeded, outcome.problems[:5]
    # what the import job runs next: the derived tables for reports (docs/import.md)
    started, cpu = time.perf_counter(), _cpu()
    assert derived.catch_up(warehouse, scope)
    prepared, prepare_cpu = time.perf_counter() - started, _cpu() - cpu
    warehouse.close()
    counts = {k.value: v.as_json() for k, v in outcome.counts.items()}
    return {
        "seconds": elapsed,
        "import_cpu": import_cpu,
        "import_rss_mb": import_rss,
        "prepare_seconds": prepared,
        "prepare_cpu": prepare_cpu,
        "counts": counts,
        "phases": phases,
    }


def _cpu() -> float:
    """CPU seconds of this process so far, every thread."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(kind: str, folder: Path, fmt: str) -> dict[str, object]:
    """Run one measurement in a child process; its peak RSS comes from wait4()."""
    with tempfile.TemporaryDirectory(dir=folder) as scratch:
        target = Path(scratch) / "w.duckdb"
        child = subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--child",
                kind,
                "--folder",
                str(folder),
                "--format",
                fmt,
                "--target",
                str(target),
            ],
            stdout=subprocess.PIPE,
        )
        assert child.stdout is not None
        output = child.stdout.read()
        child.stdout.close()
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            raise SystemExit(f"{kind}/{fmt} child failed ({child.returncode})")
    result: dict[str, object] = json.loads(output)
    result["peak_rss_mb"] = usage.ru_maxrss / 1024  # Linux reports KiB
    # the child's CPU (all its threads), whole process: less sensitive to other load
    result["cpu_seconds"] = usage.ru_utime + usage.ru_stime
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--formats", default="csv,parquet")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--child", choices=["baseline", "cohortd"])
    parser.add_argument("--generate", type=int, metavar="CUSTOMERS")
    parser.add_argument("--folder", type=Path)
    parser.add_argument("--format")
    parser.add_argument("--target", type=Path)
    args = parser.parse_args()
    if args.generate:
        generate(args.folder, args.generate)
        return
    if args.child:
        run = child_baseline if args.child == "baseline" else child_cohortd
        print(json.dumps(run(args.folder, args.format, args.target)))
        return
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        folder = Path(tmp)
        # In a child too: a child's peak RSS (wait4) counts its parent's at the fork, and
        # generating takes DuckDB about 1 GB; the parent stays small.
        subprocess.run(
            [sys.executable, __file__, "--generate", str(args.customers), "--folder", tmp],
            check=True,
        )
        rows = args.customers * (1 + SUBS_PER_CUSTOMER)
        subs = args.customers * SUBS_PER_CUSTOMER
        print(f"{args.customers:,} customers + {subs:,} subscriptions = {rows:,} rows")
        print("load average before: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
        print(
            f"{'format':8} {'what':22} {'seconds':>8} {'rows/s':>12} "
            f"{'peak RSS MB':>12} {'x baseline':>10} {'CPU s':>7}"
        )
        breakdown: dict[str, dict[str, float]] = {}
        for fmt in args.formats.split(","):
            base = measure("baseline", folder, fmt)
            ours = measure("cohortd", folder, fmt)
            breakdown[fmt] = ours["phases"]  # type: ignore[assignment]
            base_s = float(base["seconds"])  # type: ignore[arg-type]
            imported = float(ours["seconds"])  # type: ignore[arg-type]
            ready = imported + float(ours["prepare_seconds"])  # type: ignore[arg-type]
            lines = (
                ("duckdb", base_s, base["cpu_seconds"], base["peak_rss_mb"]),
                # the child's peak at the import's commit, then over its whole life
                ("cohortd import", imported, ours["import_cpu"], ours["import_rss_mb"]),
                ("cohortd + reports ready", ready, ours["cpu_seconds"], ours["peak_rss_mb"]),
            )
            for label, seconds, cpu, peak in lines:
                print(
                    f"{fmt:8} {label:22} {seconds:8.2f} {rows / seconds:12,.0f} "
                    f"{float(peak):12.0f} {seconds / base_s:10.2f}"  # type: ignore[arg-type]
                    f" {float(cpu):7.1f}"  # type: ignore[arg-type]
                )
            print(
                f"{fmt:8} preparing reports: {float(ours['prepare_seconds']):.2f} s, "  # type: ignore[arg-type]
                f"{float(ours['prepare_cpu']):.1f} CPU s"  # type: ignore[arg-type]
            )
        print("\ncohortd import phases, seconds (read: the reading thread waiting for the")
        print("next batch; validate, email hash, key hash and stage (writing the staged")
        print("files): summed over the validation threads, which overlap the reading;")
        print("checks: duplicate keys and unknown customers; merge: into the canonical tables)")
        print(f"{'phase':12}" + "".join(f"{fmt:>10}" for fmt in breakdown))
        for phase in PHASES:
            print(f"{phase:12}" + "".join(f"{b[phase]:10.2f}" for b in breakdown.values()))
        print("load average after: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))


if __name__ == "__main__":
    main()
