"""Benchmark of the dashboard's first view (issue #7, "Done when").

Does what a new user does after the README's first command: runs ``cohortd demo --json``
(a demo organization of 5,000 customers, seed 7, in a fresh temporary data dir; the
command prints the key and the dashboard link, then serves) on a free loopback port,
opens the printed dashboard link in Debian's chromium driven by Playwright, types the
printed key and submits the sign-in form. Timed: from the submit click to the first
heatmap cell being visible (a new browser context per run: no cookie, no cache), and the
page's report request (the ``/app/retention`` document the sign-in redirects to: request
start to response end, from the browser's Navigation Timing). The first, cold, run is
printed separately; the median is over ``--runs`` runs after it.

Baseline in the same run: the same report asked directly from the API with httpx
(``GET /v1/reports/cohort?interval=month&format=list``, the question the page asks),
alternated with the browser runs so that other work on the machine weighs on both.

Before timing, every number the page shows (each cell's value and text, incomplete
marks, the initial customers and MRR columns, every hover text) is checked against the
API's answer.

    uv run python benchmarks/dashboard.py [--runs 5] [--customers 5000]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
CELL = "#heatmap td.cell"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_demo(
    data_dir: Path, port: int, customers: int, log: Path
) -> tuple[subprocess.Popen[str], dict]:
    """``cohortd demo --json``: read the printed JSON, then wait until it serves (its
    JSON log lines, one per request with the server's own duration, go to ``log``)."""
    cohortd = Path(sys.executable).parent / "cohortd"
    env = dict(os.environ, COHORTD_DATA_DIR=str(data_dir), PYTHONUNBUFFERED="1")
    command = [str(cohortd), "demo", "--json", "--port", str(port)]
    command += ["--customers", str(customers)]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=log.open("w"), text=True
    )
    assert process.stdout is not None
    text = ""
    while True:
        line = process.stdout.readline()
        if not line:
            raise RuntimeError("cohortd demo exited before printing its JSON")
        text += line
        if line.startswith("}"):
            break
    info = json.loads(text)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(info["api"] + "/healthz", timeout=1).status_code == 200:
                return process, info
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("the demo server did not answer")


def sign_in_until_heatmap(browser: Browser, info: dict) -> tuple[float, float, Page]:
    """Seconds from submitting the sign-in form to a visible heatmap cell, and the
    report request's seconds; the page stays open (its context is closed by the caller)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    # the sign-in form, then back to the Retention page (the dashboard opens on the Overview)
    page.goto(info["dashboard"] + "/retention")
    page.get_by_label("API key").fill(info["test_key"])
    start = time.perf_counter()
    page.get_by_role("button", name="Sign in").click()
    page.locator(CELL).first.wait_for(state="visible")
    seconds = time.perf_counter() - start
    nav = page.evaluate("JSON.parse(JSON.stringify(performance.getEntriesByType('navigation')[0]))")
    assert nav["name"].endswith("/app/retention"), nav["name"]
    return seconds, (nav["responseEnd"] - nav["requestStart"]) / 1000, page


def api_report(info: dict) -> tuple[float, dict[str, Any]]:
    start = time.perf_counter()
    response = httpx.get(
        info["api"] + "/v1/reports/cohort",
        params={"interval": "month", "format": "list"},
        headers={"Authorization": f"Bearer {info['test_key']}"},
        timeout=60,
    )
    seconds = time.perf_counter() - start
    response.raise_for_status()
    return seconds, response.json()


_READ_PAGE = """() => ({
  rows: Array.from(document.querySelectorAll('#heatmap tbody tr')).map(tr => ({
    cohort: tr.dataset.cohort,
    initial: Array.from(tr.querySelectorAll('td.initial')).map(td => td.textContent.trim()),
    cells: Array.from(tr.querySelectorAll('td.cell')).map(td => ({
      value: Number(td.dataset.value), text: td.firstChild.textContent.trim(),
      incomplete: td.classList.contains('incomplete'),
    })),
  })),
  details: JSON.parse(document.getElementById('heatmap-details').textContent),
})"""

_DETAILS = (
    ("mrr_retained", "money"),
    ("customers_retained", "count"),
    *((name, "%") for name in ("mrr_retention", "customer_retention")),
    *((name, "%") for name in ("mrr_retention_relative", "customer_retention_relative")),
    *((name, "%") for name in ("mrr_churn", "customer_churn")),
    *((name, "%") for name in ("mrr_churn_relative", "customer_churn_relative")),
    ("mrr_retention_gross", "%"),
    ("mrr_retained_gross", "money"),
)


def check_numbers(page: Page, envelope: dict[str, Any]) -> int:
    """Every number on the page is the API's (written with two decimals, thousands
    separators, a percent sign or the currency). Returns how many were compared."""
    shown = page.evaluate(_READ_PAGE)
    currency = envelope["currency"]

    def written(value: float, kind: str) -> str:
        if kind == "count":
            return f"{int(value):,}"
        return f"{value:,.2f}%" if kind == "%" else f"{value:,.2f} {currency}"

    rows = envelope["result"]["list"]
    assert [r["cohort"] for r in shown["rows"]] == [r["cohort_group"] for r in rows]
    compared = 0
    for r, (row_shown, row) in enumerate(zip(shown["rows"], rows, strict=True)):
        initial = ["", ""]
        if "initial_mrr" in row:
            initial = [f"{row['initial_customers']:,}", f"{row['initial_mrr']:,.2f}"]
        assert row_shown["initial"] == initial, (row["cohort_group"], row_shown["initial"])
        for c, (cell, period) in enumerate(zip(row_shown["cells"], row["periods"], strict=True)):
            assert cell["value"] == period["mrr_retention"]
            assert cell["text"] == written(period["mrr_retention"], "%")
            assert cell["incomplete"] is not period["complete"]
            texts = shown["details"]["rows"][r][c]
            assert texts == [written(period[name], kind) for name, kind in _DETAILS], texts
            compared += 2 + len(texts)
        compared += 2 if "initial_mrr" in row else 0
    return compared


def load() -> str:
    return os.getloadavg().__repr__()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--customers", type=int, default=5000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cohortd-dash-") as tmp:
        started = time.perf_counter()
        log = Path(tmp) / "server.log"
        process, info = start_demo(Path(tmp) / "data", free_port(), args.customers, log)
        setup = time.perf_counter() - started
        try:
            demo = Path(tmp) / "data" / "demo-data"
            rows = {f.stem: len(f.read_text().splitlines()) - 1 for f in demo.glob("*.csv")}
            print(f"# demo data: {', '.join(f'{n:,} {kind}' for kind, n in sorted(rows.items()))}")
            run(info, args.runs, args.customers, setup, log)
        finally:
            process.terminate()
            process.wait(timeout=30)


def server_durations(log: Path, method: str, path: str) -> list[float]:
    """The server's own seconds for each 200 answer to ``method path``, in order."""
    found = []
    for line in log.read_text().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        wanted = (entry.get("logger"), entry.get("status"), entry.get("method"), entry.get("path"))
        if wanted == ("cohortd.access", 200, method, path):
            found.append(entry["duration_ms"] / 1000)
    return found


def run(info: dict, runs: int, customers: int, setup: float, log: Path) -> None:
    print(f"# {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load average {load()}")
    print(f"# cohortd demo --json ({customers:,} customers): set up and serving in {setup:.1f} s")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        cold, cold_request, page = sign_in_until_heatmap(browser, info)
        _, envelope = api_report(info)
        compared = check_numbers(page, envelope)
        page.context.close()
        cells = sum(len(r["periods"]) for r in envelope["result"]["list"])
        print(
            f"# checked {compared:,} numbers on the page against the API "
            f"({len(envelope['result']['list'])} rows, {cells:,} cells)"
        )
        print(f"# first sign-in, fresh server: {cold:.3f} s (report request {cold_request:.3f} s)")
        page_s: list[float] = []
        request_s: list[float] = []
        api_s: list[float] = []
        for _ in range(runs):
            api_s.append(api_report(info)[0])
            seconds, request, page = sign_in_until_heatmap(browser, info)
            page.context.close()
            page_s.append(seconds)
            request_s.append(request)
        browser.close()
    time.sleep(0.5)  # the last access lines
    server_page = server_durations(log, "GET", "/app/retention")[-runs:]
    server_api = server_durations(log, "GET", "/v1/reports/cohort")[-runs:]
    median = statistics.median
    print(f"# load average after: {load()}")
    print()
    print("| what | median | runs |")
    print("|---|---:|---|")
    for label, values in (
        ("submit sign-in → heatmap visible", page_s),
        ("the page's report request (`/app/retention`)", request_s),
        ("baseline: the report from the API (httpx)", api_s),
        ("server's own time, `/app/retention`", server_page),
        ("server's own time, `/v1/reports/cohort`", server_api),
    ):
        listed = ", ".join(f"{v:.3f}" for v in values)
        print(f"| {label} | {median(values):.3f} s | {listed} |")
    print()
    print(
        f"report request / API: {median(request_s) / median(api_s):.2f}x; "
        f"heatmap visible / API: {median(page_s) / median(api_s):.2f}x"
    )


if __name__ == "__main__":
    main()
