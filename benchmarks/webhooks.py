"""Webhooks end to end: an import creating N subscription events, delivered to a local
receiver, against N bare httpx POSTs to the same receiver in the same run.

    uv run python benchmarks/webhooks.py [--events 100000] [--backends sqlite,postgres]
        [--postgres postgresql://postgres@127.0.0.1:5432/test]

For each control plane (SQLite file; PostgreSQL, a fresh database, for both planes): N
customers each activated within the backfill window are imported (one
``subscription.activated`` event each, written with the data to the warehouse outbox
and relayed to the event log), then one in-process delivery loop delivers them to a
threaded HTTP receiver on 127.0.0.1 (a process of its own). Reported: the import (with
its events), events/s from the first event to the last delivery, p50/p99 from an
event's creation to its first attempt, and the same number of bare httpx POSTs (same
body size, same concurrency) to the same receiver, with the ratio. Prints a Markdown
table (docs/benchmarks.md).

    uv run python benchmarks/webhooks.py --steady [--rate 100] [--seconds 30]

The steady run records events one at a time (each in its own transaction, as live
changes arrive) at a fixed rate while one loop delivers them: p50/p99/max from each
event's creation to its first attempt when the receiver keeps up.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import platform
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy import func, select

from cohortd.config import Settings
from cohortd.db import make_engine, make_sessionmaker
from cohortd.db.migrate import upgrade
from cohortd.events import service as events
from cohortd.events.models import Event
from cohortd.imports import service as imports
from cohortd.imports.columns import ImportKind
from cohortd.imports.parsing import ImportSource
from cohortd.imports.pipeline import OnError
from cohortd.keys import service as keys
from cohortd.warehouse import Scope, connect
from cohortd.webhooks import service as hooks
from cohortd.webhooks.delivery import DeliveryLoop
from cohortd.webhooks.models import Delivery
from cohortd.webhooks.schemas import DestinationCreate


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms ACK wait

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")


class _Server(ThreadingHTTPServer):
    request_queue_size = 1024
    daemon_threads = True


def _serve(port: Any) -> None:
    server = _Server(("127.0.0.1", 0), _Handler)
    port.value = server.server_address[1]
    server.serve_forever()


def receiver() -> tuple[multiprocessing.Process, str]:
    """The receiver in a process of its own (as a real receiver is on another machine):
    its threads do not share the delivery loop's interpreter lock."""
    port = multiprocessing.Value("i", 0)
    process = multiprocessing.Process(target=_serve, args=(port,), daemon=True)
    process.start()
    deadline = time.monotonic() + 10
    while not port.value:
        if time.monotonic() > deadline:
            raise RuntimeError("the receiver did not start")
        time.sleep(0.01)
    return process, f"http://127.0.0.1:{port.value}/hooks"


def files(folder: Path, n: int) -> list[ImportSource]:
    today = datetime.now(UTC).date()
    customers = folder / "customers.csv"
    subscriptions = folder / "subscriptions.csv"
    with customers.open("w") as out:
        out.write("id,name,email,created_at\n")
        for i in range(n):
            out.write(f"c{i},Customer {i},c{i}@example.com,{today - timedelta(days=400)}\n")
    with subscriptions.open("w") as out:
        out.write("id,customer_id,plan_id,currency,mrr,start_date,end_date,status\n")
        for i in range(n):
            start = today - timedelta(days=1 + i % 30)
            out.write(f"s{i},c{i},pro,USD,{10 + i % 90}.00,{start},,active\n")
    return [
        ImportSource(ImportKind.customers, customers, "customers.csv"),
        ImportSource(ImportKind.subscriptions, subscriptions, "subscriptions.csv"),
    ]


def bare_posts(url: str, n: int, body: bytes, concurrency: int) -> float:
    async def main() -> float:
        gate = asyncio.Semaphore(concurrency)
        async with httpx.AsyncClient(limits=httpx.Limits(max_connections=concurrency)) as client:

            async def one() -> None:
                async with gate:
                    (await client.post(url, content=body)).raise_for_status()

            started = time.perf_counter()
            await asyncio.gather(*(one() for _ in range(n)))
            return time.perf_counter() - started

    return asyncio.run(main())


def delivered(sessions: Any) -> int:
    """How many deliveries have succeeded."""
    with sessions() as session:
        found = session.scalar(
            select(func.count()).select_from(Delivery).where(Delivery.status == "succeeded")
        )
        return int(found or 0)


def first_attempt_lags(sessions: Any) -> tuple[list[float], list[int]]:
    """Seconds from each event's creation to its first attempt (sorted), and the
    events' envelope sizes."""
    with sessions() as session:
        rows = session.execute(
            select(Event.created_at, Delivery.first_attempt_at, Event.envelope)
            .join(Delivery, Delivery.event_id == Event.id)
            .where(Delivery.attempt == 1)
        ).all()
    lags = sorted((r.first_attempt_at - r.created_at).total_seconds() for r in rows)
    return lags, [len(r.envelope) for r in rows]


@contextlib.contextmanager
def control_plane(backend: str, postgres: str) -> Iterator[tuple[str, str, str, Path]]:
    """(name, control-plane URL, warehouse URL, temp folder) of a fresh ``backend``."""
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        if backend == "sqlite":
            yield (
                "SQLite + DuckDB",
                f"sqlite:///{tmp / 'control.sqlite3'}",
                f"duckdb:///{tmp / 'warehouse.duckdb'}",
                tmp,
            )
            return
        database = f"cohortd_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(postgres, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{database}"')
        url = postgres.rsplit("/", 1)[0] + "/" + database
        try:
            yield "PostgreSQL", url, url, tmp
        finally:
            with psycopg.connect(postgres, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def run_backend(
    name: str, control_url: str, warehouse_url: str, n: int, tmp: Path
) -> dict[str, Any]:
    server, url = receiver()
    upgrade(control_url)
    settings = Settings(
        data_dir=tmp, database_url=control_url, warehouse_url=warehouse_url, delivery="external"
    )
    engine = make_engine(control_url)
    sessions = make_sessionmaker(engine)
    warehouse = connect(warehouse_url)
    with sessions.begin() as session:
        org = keys.create_organization(session, name="Bench", base_currency="USD")
        scope = Scope(org.id, False)
        hooks.create_destination(session, scope, DestinationCreate(url=url), settings=settings)
        job_id = imports.create_job(
            session,
            scope,
            files={ImportKind.customers: "c.csv", ImportKind.subscriptions: "s.csv"},
            on_error=OnError.abort,
        ).id
    sources = files(tmp, n)
    started = time.perf_counter()
    job = imports.run_job(sessions, warehouse, job_id, sources, backfill_days=35)
    imported = time.perf_counter() - started
    assert job.status == "succeeded", job.errors
    loop = DeliveryLoop(sessions, settings)

    async def deliver() -> float:
        stop = asyncio.Event()
        task = asyncio.create_task(loop.run(stop))
        began = time.perf_counter()
        while await asyncio.to_thread(delivered, sessions) < n + 1:  # + import.completed
            await asyncio.sleep(0.25)
        took = time.perf_counter() - began
        stop.set()
        await task
        return took

    delivering = asyncio.run(deliver())
    lags, sizes = first_attempt_lags(sessions)
    body_size = int(statistics.median(sizes))
    baseline = bare_posts(url, n + 1, b"x" * body_size, settings.webhook_concurrency)
    warehouse.close()
    engine.dispose()
    server.terminate()
    server.join()
    return {
        "backend": name,
        "events": n + 1,
        "import_s": imported,
        "deliver_s": delivering,
        "events_per_s": (n + 1) / delivering,
        "p50_s": lags[len(lags) // 2],
        "p99_s": lags[int(len(lags) * 0.99)],
        "bare_s": baseline,
        "ratio": delivering / baseline,
    }


def run_steady(
    name: str, control_url: str, rate: float, seconds: float, tmp: Path
) -> dict[str, Any]:
    """Events recorded one at a time at ``rate`` per second for ``seconds`` (as changes
    arrive in a live system: each in its own transaction, like a cohort change or a live
    write), delivered by one loop as they come: the time from each event to its first
    attempt when the receiver keeps up."""
    server, url = receiver()
    upgrade(control_url)
    settings = Settings(
        data_dir=tmp, database_url=control_url, warehouse_url="duckdb://", delivery="external"
    )
    engine = make_engine(control_url)
    sessions = make_sessionmaker(engine)
    with sessions.begin() as session:
        org = keys.create_organization(session, name="Steady", base_currency="USD")
        scope = Scope(org.id, False)
        hooks.create_destination(session, scope, DestinationCreate(url=url), settings=settings)
    total = int(rate * seconds)
    loop = DeliveryLoop(sessions, settings)

    def produce() -> None:
        began = time.perf_counter()
        for i in range(total):
            wait = began + i / rate - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            with sessions.begin() as session:
                events.record(
                    session,
                    org_id=scope.org_id,
                    livemode=False,
                    draft=events.EventDraft(type="cohort.updated", data={"id": f"cohort_{i}"}),
                )

    async def deliver() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(loop.run(stop))
        await asyncio.to_thread(produce)
        while await asyncio.to_thread(delivered, sessions) < total:
            await asyncio.sleep(0.25)
        stop.set()
        await task

    asyncio.run(deliver())
    lags, _ = first_attempt_lags(sessions)
    engine.dispose()
    server.terminate()
    server.join()
    return {
        "backend": name,
        "events": total,
        "rate": rate,
        "p50_s": lags[len(lags) // 2],
        "p99_s": lags[int(len(lags) * 0.99)],
        "max_s": lags[-1],
    }


def steady_main(args: argparse.Namespace) -> None:
    results = []
    for backend in args.backends.split(","):
        with control_plane(backend, args.postgres) as (name, url, _, tmp):
            results.append(run_steady(name, url, args.rate, args.seconds, tmp))
    print(f"\n{datetime.now(UTC):%Y-%m-%d}, {platform.machine()}, {os.cpu_count()} cores\n")
    print("| control plane | events | rate (/s) | p50 first attempt (s) | p99 (s) | max (s) |")
    print("|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['backend']} | {r['events']:,} | {r['rate']:.0f} | {r['p50_s']:.3f} | "
            f"{r['p99_s']:.3f} | {r['max_s']:.3f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument(
        "--steady",
        action="store_true",
        help="instead: events one at a time at --rate per second for --seconds",
    )
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    if args.steady:
        steady_main(args)
        return
    results = []
    for backend in args.backends.split(","):
        with control_plane(backend, args.postgres) as (name, control_url, warehouse_url, tmp):
            results.append(run_backend(name, control_url, warehouse_url, args.events, tmp))
        print("done:", results[-1], flush=True)
    print(
        f"\n{datetime.now(UTC):%Y-%m-%d}, {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}\n"
    )
    print(
        "| control plane | events | import (s) | delivery (s) | events/s | p50 first attempt (s) "
        "| p99 first attempt (s) | bare POSTs (s) | ratio |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['backend']} | {r['events']:,} | {r['import_s']:.1f} | {r['deliver_s']:.1f} | "
            f"{r['events_per_s']:.0f} | {r['p50_s']:.2f} | {r['p99_s']:.2f} | {r['bare_s']:.1f} | "
            f"{r['ratio']:.2f}x |"
        )


if __name__ == "__main__":
    main()
