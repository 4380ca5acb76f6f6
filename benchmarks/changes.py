"""Benchmark of live changes (SPEC §9): one override over HTTP, and the next report.

Synthetic data (``benchmarks/report.py``'s generator: 1-4 constant-MRR stretches per
customer) loaded into the app's DuckDB file, the real app served by uvicorn on a free
loopback port, timed with httpx (auth, JSON and the write's transaction included). For
each size: the baseline, in the same run and process, is the monthly report alone
(``GET /v1/reports/cohort?interval=month``, median of 5); then each write, medians over
different customers' open rows, each followed by the monthly report (the "next report",
which must see the change; both reports computed, ``Cache-Control: no-cache``); then the
sustained rate of plan changes from 8 client threads on distinct customers, the threads
in a process of their own.

    uv run python benchmarks/changes.py --sizes 100000 [1000000] [--writes 7] [--rate-seconds 10]
        [--shape report|global-saas]
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import date
from pathlib import Path

import httpx
from report import bench_org, generate, load, served

from cohortd.subscriptions.writer import writer_of
from cohortd.warehouse import Scope, scoped
from cohortd.warehouse.tables import SUBSCRIPTIONS
from metrics import load_global_saas

REPORT = "/v1/reports/cohort?interval=month"
FRESH = {"Cache-Control": "no-cache"}  # computed, not read from the answer cache
CLIENTS = 8


def _open_rows(app: object, scope: Scope, count: int) -> list[str]:
    """``count`` open, paying rows of distinct customers, started by today (an override
    effective today needs a row that covers today)."""
    warehouse = app.state.warehouse  # type: ignore[attr-defined]
    table = scoped(warehouse, SUBSCRIPTIONS, scope)
    paying = table.filter(
        table.end_date.isnull() & (table.mrr_minor > 0) & (table.start_date <= date.today())
    )
    one = paying.group_by("customer_id").agg(id=paying.id.min()).order_by("customer_id")
    return [str(i) for i in warehouse.to_pyarrow(one.limit(count)).column("id").to_pylist()]


def _timed(action: Callable[[], httpx.Response]) -> float:
    started = time.perf_counter()
    answer = action()
    elapsed = time.perf_counter() - started
    if answer.status_code >= 400:
        raise RuntimeError(f"{answer.status_code}: {answer.text}")
    return elapsed


def bench_size(
    size: int, folder: Path, writes: int, rate_seconds: float, shape: str = "report"
) -> list[tuple[str, float]]:
    folder = folder / f"size_{size}"
    folder.mkdir()
    with served(folder) as (url, app):
        state = app.state  # type: ignore[attr-defined]
        scope, secret = bench_org(app)
        if shape == "global-saas":  # the demo generator's global-SaaS shape (metrics.py)
            load_global_saas(state.warehouse, scope, size)
        else:
            customers, subscriptions = generate(size)
            load(state.warehouse, scope, customers, subscriptions)
        rows = _open_rows(app, scope, writes * 5 + CLIENTS * 400)
        headers = {"Authorization": f"Bearer {secret}"}
        results: list[tuple[str, float]] = []
        with httpx.Client(base_url=url, headers=headers, timeout=600) as client:
            client.get(REPORT).raise_for_status()  # warm: compiled SQL, rates
            report_alone = statistics.median(
                _timed(lambda: client.get(REPORT, headers=FRESH)) for _ in range(5)
            )
            results.append(("monthly report alone (baseline)", report_alone))
            taken = iter(rows)
            kinds: dict[str, Callable[[str], httpx.Response]] = {
                "change_plan": lambda row: client.post(
                    f"/v1/subscriptions/{row}/change_plan", json={"plan_id": "b", "mrr": "12"}
                ),
                "cancel": lambda row: client.post(f"/v1/subscriptions/{row}/cancel", json={}),
                "pause": lambda row: client.post(f"/v1/subscriptions/{row}/pause", json={}),
                "upsert (POST /v1/subscriptions)": lambda row: client.post(
                    "/v1/subscriptions",
                    json={
                        "id": f"{row}_extra",
                        "customer_id": _customer_of(client, row),
                        "currency": "USD",
                        "mrr": "5.00",
                        "start_date": "2026-01-01",
                    },
                ),
            }
            for name, write in kinds.items():
                change, after = [], []
                for _ in range(writes):
                    row = next(taken)
                    change.append(_timed(lambda row=row, write=write: write(row)))
                    after.append(_timed(lambda: client.get(REPORT, headers=FRESH)))
                results.append((f"{name}", statistics.median(change)))
                results.append(("  next monthly report", statistics.median(after)))
            paused = []
            for _ in range(writes):  # resume: a row paused just before
                row = next(taken)
                answer = client.post(f"/v1/subscriptions/{row}/pause", json={})
                pause_id = next(  # the pause just made: it starts today
                    r["id"]
                    for r in answer.json()["data"]
                    if r["status"] == "paused" and r["start_date"] == date.today().isoformat()
                )
                paused.append(
                    _timed(lambda p=pause_id: client.post(f"/v1/subscriptions/{p}/resume", json={}))
                )
            results.append(("resume", statistics.median(paused)))
        writer = writer_of(state.warehouse)
        batches, writes = writer.batches, writer.writes
        rate = _rate(url, headers, list(taken), rate_seconds)
        results.append(("changes/s, 8 clients", rate))
        per_batch = (writer.writes - writes) / max(1, writer.batches - batches)
        results.append(("  writes per transaction", per_batch))
    return results


def _customer_of(client: httpx.Client, row: str) -> str:
    return str(client.get(f"/v1/subscriptions/{row}").json()["customer_id"])


def _rate(url: str, headers: dict[str, str], rows: list[str], seconds: float) -> float:
    """Plan changes per second from ``CLIENTS`` threads, each on its own rows, in a
    process of their own (as clients are: in the server's process, their threads would
    share its interpreter lock and slow the server's own Python work)."""
    spawned = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=spawned) as pool:
        return pool.submit(_client_threads, url, headers, rows, seconds).result()


def _client_threads(url: str, headers: dict[str, str], rows: list[str], seconds: float) -> float:
    lock = threading.Lock()
    pending = iter(rows)
    done = [0]
    stop = time.perf_counter() + seconds

    def client_loop() -> None:
        with httpx.Client(base_url=url, headers=headers, timeout=600) as client:
            while time.perf_counter() < stop:
                with lock:
                    row = next(pending)
                answer = client.post(
                    f"/v1/subscriptions/{row}/change_plan", json={"plan_id": "c", "mrr": "7"}
                )
                answer.raise_for_status()
                with lock:
                    done[0] += 1

    started = time.perf_counter()
    threads = [threading.Thread(target=client_loop) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return done[0] / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000])
    parser.add_argument("--writes", type=int, default=7, help="writes timed per kind")
    parser.add_argument("--rate-seconds", type=float, default=10.0)
    parser.add_argument(
        "--shape",
        choices=["report", "global-saas"],
        default="report",
        help="report.py's generator, or the demo's global-SaaS shape (20 currencies)",
    )
    args = parser.parse_args()
    print(f"{'customers':>10}  {'operation':<34} {'median s':>9} {'vs report alone':>16}")
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            results = bench_size(size, Path(tmp), args.writes, args.rate_seconds, args.shape)
            alone = results[0][1]
            for name, value in results:
                if name.startswith(("changes/s", "  writes per")):
                    print(f"{size:>10,}  {name:<34} {value:>9.1f}")
                else:
                    print(f"{size:>10,}  {name:<34} {value:>9.3f} {value / alone:>15.2f}x")


if __name__ == "__main__":
    main()
