"""Load benchmark: many dashboard users at once against one real server (loopback only).

Starts ``cohortd demo --json`` (5,000 demo customers, seed 7, in a fresh temporary data
dir) on a free 127.0.0.1 port, generates the auto cohorts, then for 1, 8 and 32
concurrent clients (httpx, asyncio) runs each scenario for at most ``--seconds`` seconds
or ``--requests`` requests, whichever comes first:

- ``distinct``: 24 distinct reports in turn (month and quarter; no breakdown, by
  country, by currency; four past month ends), each computed (``Cache-Control:
  no-cache``: the answer cache is not read);
- ``identical``: the same report again and again (served from the answer cache);
- ``mix``: a dashboard's reads in turn, each computed: a report, the cohorts list
  (20, with member counts), compare, and one cohort's snapshots (4 cohorts x 6
  windows);
- ``mix+writes``: ``mix`` while a snapshot run (``POST /v1/snapshots/run``) and an
  import of the demo's own files (``POST /v1/imports``) run, again and again.

Printed per scenario and client count: requests, requests/s, p50 and p99 latency,
errors (any status but 200), and the throughput relative to one client of the same
scenario in the same run (the baseline). Every distinct request is asked once before
timing (compiled SQL and rate factors warm, as on a dashboard in use). Finally the
server's operator metrics (cache hits and misses, deadline cancellations).

    uv run python benchmarks/load.py [--seconds 10] [--requests 2000] [--customers 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


CLIENTS = (1, 8, 32)


@dataclass
class Cell:
    scenario: str
    clients: int
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    seconds: float = 0.0
    statuses: Counter[str] = field(default_factory=Counter)  # of the errors

    @property
    def requests(self) -> int:
        return len(self.latencies) + self.errors

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def quantile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def start_server(
    data_dir: Path, customers: int, metrics_port: int
) -> tuple[subprocess.Popen[str], dict]:
    cohortd = Path(sys.executable).parent / "cohortd"
    port = free_port()
    env = dict(
        os.environ,
        COHORTD_DATA_DIR=str(data_dir),
        COHORTD_METRICS_PORT=str(metrics_port),
        COHORTD_LOG_LEVEL="WARNING",
        # the benchmark measures the server, not the per-key limit (600/min by default)
        COHORTD_RATE_LIMIT_PER_MINUTE="100000000",
        PYTHONUNBUFFERED="1",
    )
    command = [str(cohortd), "demo", "--json", "--port", str(port), "--customers", str(customers)]
    log = (data_dir / "server.log").open("w")
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=log, text=True)
    assert process.stdout is not None
    text = ""
    while not text.rstrip().endswith("}") or text.count("{") != text.count("}"):
        line = process.stdout.readline()
        if not line:
            raise RuntimeError("cohortd demo exited before printing its JSON")
        text += line
    info = json.loads(text)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(info["api"] + "/healthz", timeout=1).status_code == 200:
                return process, info
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError("the demo server did not answer")


def month_ends(count: int) -> list[str]:
    """The last days of the ``count`` months before this one."""
    today = datetime.now(UTC).date()
    ends, day = [], today.replace(day=1) - timedelta(days=1)
    for _ in range(count):
        ends.append(day.isoformat())
        day = day.replace(day=1) - timedelta(days=1)
    return ends


# 24 distinct reports: two intervals, three breakdowns, four past month ends
REPORTS = [
    f"/v1/reports/cohort?interval={interval}&date={day}" + (f"&breakdown={b}" if b else "")
    for interval in ("month", "quarter")
    for b in ("", "country", "currency")
    for day in month_ends(4)
]


def make_requests(scenario: str, cohort_ids: list[str]) -> Callable[[], str]:
    reports = itertools.cycle(REPORTS)
    starts = itertools.cycle(month_ends(6))
    kinds = itertools.cycle(("report", "cohorts", "compare", "snapshots"))
    cohorts = itertools.cycle(cohort_ids)

    def next_request() -> str:
        if scenario == "identical":
            return REPORTS[0]
        if scenario == "distinct":
            return next(reports)
        kind = next(kinds)
        if kind == "report":
            return next(reports)
        if kind == "cohorts":
            return "/v1/cohorts?limit=20"
        if kind == "compare":
            return "/v1/cohorts/compare?interval=month"
        return f"/v1/cohorts/{next(cohorts)}/snapshots?from={next(starts)}"

    return next_request


async def run_cell(
    api: str,
    key: str,
    scenario: str,
    clients: int,
    seconds: float,
    limit: int,
    cohort_ids: list[str],
) -> Cell:
    cell = Cell(scenario, clients)
    next_request = make_requests(scenario, cohort_ids)
    issued = 0
    stop_at = time.monotonic() + seconds
    headers = {"Authorization": f"Bearer {key}"}
    if scenario != "identical":  # every answer computed: the engine's throughput
        headers["Cache-Control"] = "no-cache"
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=api, headers=headers, limits=limits, timeout=60) as http:

        async def worker() -> None:
            nonlocal issued
            while time.monotonic() < stop_at and issued < limit:
                issued += 1
                path = next_request()
                started = time.perf_counter()
                try:
                    response = await http.get(path)
                    status = str(response.status_code)
                except httpx.HTTPError as error:
                    status = type(error).__name__
                ok = status == "200"
                if not ok:
                    cell.statuses[status] += 1
                if ok:
                    cell.latencies.append(time.perf_counter() - started)
                else:
                    cell.errors += 1

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        cell.seconds = time.perf_counter() - began
    return cell


def warm(api: str, auth: dict[str, str], cohort_ids: list[str]) -> None:
    """Every distinct request once, untimed: compiled SQL and rate factors are kept by
    the server, as on a dashboard in use."""
    with httpx.Client(base_url=api, headers=auth, timeout=600) as http:
        for path in (
            *REPORTS,
            "/v1/cohorts?limit=20",
            "/v1/cohorts/compare?interval=month",
            *(f"/v1/cohorts/{c}/snapshots?from={d}" for c in cohort_ids for d in month_ends(6)),
        ):
            http.get(path)


class Writers:
    """A snapshot run and an import, each again and again, until stopped."""

    def __init__(self, api: str, key: str, files: Path) -> None:
        self.api, self.key, self.files = api, key, files
        self.stop = threading.Event()
        self.done = {"snapshot runs": 0, "imports": 0}
        self.failed = {"snapshot runs": 0, "imports": 0}
        self.threads = [
            threading.Thread(target=self._loop, args=("snapshot runs", self._snapshot_run)),
            threading.Thread(target=self._loop, args=("imports", self._import)),
        ]

    def _loop(self, name: str, step: Callable[[httpx.Client], bool]) -> None:
        headers = {"Authorization": f"Bearer {self.key}"}
        with httpx.Client(base_url=self.api, headers=headers, timeout=300) as http:
            while not self.stop.is_set():
                try:
                    ok = step(http)
                except httpx.HTTPError:  # no answer within the client's 300 s
                    ok = False
                if ok:
                    self.done[name] += 1
                else:
                    self.failed[name] += 1

    def _snapshot_run(self, http: httpx.Client) -> bool:
        response = http.post("/v1/snapshots/run")
        return response.status_code in (200, 201, 202)

    def _import(self, http: httpx.Client) -> bool:
        with (self.files / "customers.csv").open("rb") as customers:
            response = http.post("/v1/imports", files={"customers": ("customers.csv", customers)})
        if response.status_code not in (200, 201, 202):
            return False
        job = response.json()["id"]
        while not self.stop.is_set():
            status = http.get(f"/v1/imports/{job}").json().get("status")
            if status in ("succeeded", "failed"):
                return status == "succeeded"
            time.sleep(0.1)
        return True

    def __enter__(self) -> Writers:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join()


def machine() -> str:
    model = "unknown CPU"
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{model}, {os.cpu_count()} cores, Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--customers", type=int, default=5000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cohortd-load-") as tmp:
        data_dir = Path(tmp)
        metrics_port = free_port()
        process, info = start_server(data_dir, args.customers, metrics_port)
        try:
            api, key = info["api"], info["test_key"]
            auth = {"Authorization": f"Bearer {key}"}
            made = httpx.post(api + "/api/cohorts/definitions", headers=auth, timeout=600)
            made.raise_for_status()
            answer = httpx.get(api + "/v1/cohorts?limit=20", headers=auth, timeout=600)
            if answer.status_code != 200:
                raise RuntimeError(f"GET /v1/cohorts: {answer.status_code} {answer.text}")
            listed = answer.json()
            cohort_ids = [c["id"] for c in listed["data"]][:4]
            warm(api, auth, cohort_ids)
            print(f"# load benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
            print(f"# machine: {machine()}")
            print(
                "# load average at start (1/5/15 min): {:.2f} / {:.2f} / {:.2f}".format(
                    *os.getloadavg()
                )
            )
            print(
                f"# data: cohortd demo, {args.customers:,} customers (seed 7), "
                f"{made.json().get('total_cohorts', '?')} auto cohorts; "
                f"per cell at most {args.seconds:g} s "
                f"or {args.requests} requests"
            )
            print()
            print(
                "| scenario | clients | requests | req/s | p50 ms | p99 ms | errors | vs 1 client |"
            )
            print("|---|---:|---:|---:|---:|---:|---:|---:|")
            writers_note = errors_note = ""
            for scenario in ("distinct", "identical", "mix", "mix+writes"):
                base = None
                for clients in CLIENTS:
                    async_run = run_cell(
                        api, key, scenario, clients, args.seconds, args.requests, cohort_ids
                    )
                    if scenario == "mix+writes":
                        with Writers(api, key, data_dir / "demo-data") as writers:
                            cell = asyncio.run(async_run)
                        writers_note += (
                            f"# mix+writes at {clients}: done {writers.done}, "
                            f"failed {writers.failed}\n"
                        )
                    else:
                        cell = asyncio.run(async_run)
                    base = base or cell.rate
                    if cell.statuses:
                        seen = dict(cell.statuses)
                        errors_note += f"# errors of {scenario} at {clients}: {seen}\n"
                    print(
                        f"| {scenario} | {clients} | {cell.requests} | {cell.rate:.1f} | "
                        f"{cell.quantile(0.5) * 1000:.0f} | {cell.quantile(0.99) * 1000:.0f} | "
                        f"{cell.errors} | {cell.rate / base:.2f}x |",
                        flush=True,
                    )
            print()
            print(
                "# load average at end (1/5/15 min): {:.2f} / {:.2f} / {:.2f}".format(
                    *os.getloadavg()
                )
            )
            print(writers_note + errors_note, end="")
            try:
                scraped = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
            except httpx.HTTPError:  # a server without operator metrics (an older build)
                scraped = ""
            for line in scraped.splitlines():
                if line.startswith(("cohortd_answer_cache", "cohortd_request_deadlines")):
                    print("#", line)
        finally:
            process.terminate()
            process.wait(timeout=60)


if __name__ == "__main__":
    main()
